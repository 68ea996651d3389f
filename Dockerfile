# The image of every Airflow component and of the MLflow server in docker-compose.yaml: the official Airflow image
# of the locked apache-airflow version, plus this package and its locked dependencies (uv.lock, with the
# `celery` extra: the Celery provider, the Redis client, psycopg2). Rebuild it whenever uv.lock changes.
# The Airflow version must stay the one in uv.lock (tests/unit/test_compose.py checks).
FROM ghcr.io/astral-sh/uv:0.13.8 AS uv

FROM apache/airflow:3.3.2-python3.11

COPY --from=uv /uv /usr/local/bin/uv
COPY --chown=airflow:0 pyproject.toml uv.lock README.md /opt/mlops/package/
COPY --chown=airflow:0 src /opt/mlops/package/src

# The lock as a requirements file (no dev tools), installed beside the image's Airflow (the same version, so pip
# keeps it), then the package itself without resolving again.
RUN cd /opt/mlops/package \
    && uv export --frozen --no-dev --extra celery --no-hashes --no-emit-project --output-file /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && pip install --no-cache-dir --no-deps /opt/mlops/package \
    && rm /tmp/requirements.txt

# The lock whose sha256 every model version records ([mlops] lock_file), and the folders the compose file's named
# volumes mount (a new volume takes their owner: the airflow user, group 0 writable).
USER root
RUN cp /opt/mlops/package/uv.lock /opt/airflow/uv.lock \
    && mkdir -p /opt/airflow/auth /opt/mlops/state \
    && chown -R airflow:0 /opt/airflow/uv.lock /opt/airflow/auth /opt/mlops/state \
    && chmod -R g+rwX /opt/airflow/auth /opt/mlops/state
USER airflow
