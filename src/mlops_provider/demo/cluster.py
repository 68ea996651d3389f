"""The distributed mode on one machine: Airflow's CeleryExecutor on PostgreSQL and Redis, two Celery workers, an
MLflow tracking server on its own PostgreSQL database with artifacts on S3, and the data on S3.

The settings are those of docker-compose.yaml (a test compares them), with this machine's services in place of
the compose services: PostgreSQL at 127.0.0.1:5432 (a fresh database for Airflow and one for MLflow), Redis at
127.0.0.1:6379 (an empty database number of its own), and moto's standalone S3 server on loopback in place of
MinIO, reached through a relay (:mod:`mlops_provider.demo.tcpproxy`) that can be stopped to make S3 unreachable.
Both workers run on this machine: each reports its own host name (``worker-1``, ``worker-2``) through
``[core] hostname_callable``, so the task instances show which worker ran them, as separate hosts would.

``init()`` creates everything, ``start()`` starts the processes, ``destroy()`` stops them and drops the databases
and the Redis keys. Used by the distributed-mode tests and ``benchmarks/``.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from mlops_provider.demo.stack import PROCESSES, Stack

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
BUCKET = "mlops"
AWS_KEY = "testing"  # moto accepts any credentials
#: the environment variable that names a worker; read by :func:`worker_hostname` in its task processes
WORKER_NAME_VAR = "MLOPS_WORKER_NAME"


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the workers here: the worker's own name, as a separate host would have."""
    return os.environ.get(WORKER_NAME_VAR) or socket.getfqdn()


def services_up() -> bool:
    """Whether PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379), which a cluster runs on, answer."""
    for port in (5432, REDIS_PORT):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_in_db(db: int, *command: str) -> str:
    """``SELECT db``, then one Redis command over RESP (no client library needed): its reply as text."""

    def resp(*words: str) -> str:
        return f"*{len(words)}\r\n" + "".join(f"${len(w.encode())}\r\n{w}\r\n" for w in words)

    with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=10) as s:
        s.sendall((resp("SELECT", str(db)) + resp(*command)).encode())
        reply = b""
        while reply.count(b"\r\n") < 2:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    lines = reply.decode().split("\r\n")
    if len(lines) < 2 or lines[0].startswith("-") or lines[1].startswith("-"):
        raise RuntimeError(f"redis at {REDIS_HOST}:{REDIS_PORT}: {command[0]} in database {db} failed: {lines[:2]}")
    return lines[1].lstrip("+:")


#: the key by which a cluster claims its Redis database (SET NX: two clusters starting at once never share one)
CLAIM_KEY = "mlops-cluster"


@dataclass
class Cluster(Stack):
    workers: int = 2
    name: str = field(default_factory=lambda: f"mlops_{secrets.token_hex(4)}")
    mlflow_port: int = field(default_factory=free_port)
    moto_port: int = field(default_factory=free_port)
    s3_port: int = field(default_factory=free_port)  # the relay in front of moto: what every client uses
    worker_concurrency: int = 2

    def __post_init__(self) -> None:
        """A cluster made before in the same folder keeps its name and ports (so another process can stop it)."""
        record = self.home / "cluster.json"
        keys = ("name", "port", "mlflow_port", "moto_port", "s3_port")
        if record.exists():
            for key, value in json.loads(record.read_text()).items():
                if key in keys:
                    setattr(self, key, value)
        else:
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({key: getattr(self, key) for key in keys}))

    # -- names ---------------------------------------------------------------------------------------

    @property
    def worker_names(self) -> tuple[str, ...]:
        return tuple(f"worker-{i}" for i in range(1, self.workers + 1))

    @property
    def services(self) -> tuple[str, ...]:
        """What the Airflow processes need first: the S3 server, its relay, the MLflow server."""
        return ("moto", "s3", "mlflow")

    @property
    def processes(self) -> tuple[str, ...]:
        return self.services + PROCESSES + self.worker_names

    @property
    def airflow_db(self) -> str:
        return f"{self.name}_airflow"

    @property
    def mlflow_db(self) -> str:
        return f"{self.name}_mlflow"

    def pg_url(self, db: str, driver: str = "postgresql") -> str:
        return f"{driver}://postgres@127.0.0.1:5432/{db}"

    @property
    def mlflow_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def data_root(self) -> str:
        return f"s3://{BUCKET}/data"

    # -- settings ------------------------------------------------------------------------------------

    def _secret(self, name: str, make: object) -> str:
        path = self.home / "secrets" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(str(make() if callable(make) else make))
            path.chmod(0o600)
        return path.read_text()

    def settings(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        own = super().settings()
        own.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.pg_url(self.airflow_db, "postgresql+psycopg2"),
                "AIRFLOW__CELERY__RESULT_BACKEND": self.pg_url(self.airflow_db, "db+postgresql+psycopg2"),
                "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.redis_db}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
                "AIRFLOW__CORE__FERNET_KEY": self._secret("fernet_key", lambda: Fernet.generate_key().decode()),
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "true",
                "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt_secret", lambda: secrets.token_urlsafe(32)),
                "AIRFLOW__API_AUTH__JWT_ISSUER": "airflow-provider-mlops",
                "AIRFLOW__API__SECRET_KEY": self._secret("api_secret_key", lambda: secrets.token_urlsafe(32)),
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "true",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self._port("scheduler_health")),
                # a task whose worker died is failed (and retried) after a minute without heartbeats, not five
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
                "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps(
                    {
                        "conn_type": "mlflow",
                        "extra": {"tracking_uri": self.mlflow_uri, "lock_uri": self.pg_url(self.mlflow_db)},
                    }
                ),
                "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                    {
                        "conn_type": "aws",
                        "login": AWS_KEY,
                        "password": AWS_KEY,
                        "extra": {"endpoint_url": self.s3_url, "region_name": "us-east-1"},
                    }
                ),
                "AIRFLOW__MLOPS__DATA_ROOT": self.data_root,
                "AIRFLOW__MLOPS__SNAPSHOT_ROOT": f"s3://{BUCKET}/snapshots",
                "AIRFLOW__MLOPS__API_URL": self.api_url,
                "MLOPS_BUCKET": BUCKET,
                # MLflow's client gives up on an unreachable server after about 7 s (1 + 2 + 4 s of backoff)
                # instead of about 4 minutes: a longer outage is then Airflow's to retry, with its alert
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
                "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
            }
        )
        return own

    @property
    def redis_db(self) -> int:
        """The broker's Redis database: one that held no key when the cluster was made (kept in its folder)."""
        return int(self._secret("redis_db", self._pick_redis_db))

    def wait_workers(self, timeout: float = 300) -> None:
        """Wait until every Celery worker has said it is ready (its log's ``ready.`` line)."""
        deadline = time.monotonic() + timeout
        for name in self.worker_names:
            log = self.home / "logs" / f"{name}.log"
            while not (log.exists() and " ready." in log.read_text(errors="replace")):
                if time.monotonic() > deadline or name not in self.running():
                    raise TimeoutError(f"Celery worker {name} not ready after {timeout:.0f} s; see {log}")
                time.sleep(1)

    def _port(self, name: str) -> int:
        return int(self._secret(f"port_{name}", free_port))

    def command(self, name: str) -> list[str]:
        bin_dir = Path(sys.executable).parent
        if name == "moto":
            return [str(bin_dir / "moto_server"), "-H", "127.0.0.1", "-p", str(self.moto_port)]
        if name == "s3":
            return [sys.executable, "-m", "mlops_provider.demo.tcpproxy", str(self.s3_port), str(self.moto_port)]
        if name == "mlflow":
            return [
                str(bin_dir / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(self.mlflow_port),
                "--workers", "1", "--serve-artifacts",
            ]  # fmt: skip
        if name in self.worker_names:
            return ["airflow", "celery", "worker", "--celery-hostname", f"{name}@%h", "--skip-serve-logs"]
        return super().command(name)

    def process_env(self, name: str) -> dict[str, str]:
        env = self.env()
        if name == "mlflow":  # the compose file's mlflow service
            env.update(
                MLFLOW_BACKEND_STORE_URI=self.pg_url(self.mlflow_db, "postgresql+psycopg2"),
                MLFLOW_ARTIFACTS_DESTINATION=f"s3://{BUCKET}/mlflow",
                MLFLOW_S3_ENDPOINT_URL=self.s3_url,
                AWS_ACCESS_KEY_ID=AWS_KEY,
                AWS_SECRET_ACCESS_KEY=AWS_KEY,
                AWS_DEFAULT_REGION="us-east-1",
                MLFLOW_SERVER_ALLOWED_HOSTS="localhost,localhost:*,127.0.0.1,127.0.0.1:*",
            )
        if name in self.worker_names:
            env[WORKER_NAME_VAR] = name
            env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] = f"{__name__}.worker_hostname"
            # as the compose file's workers: the heavy libraries imported once per worker, before its pool forks
            env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] = "mlops_provider.executors.celery.CELERY_CONFIG"
        return env

    # -- lifecycle -----------------------------------------------------------------------------------

    def _pg(self, *statements: str) -> None:
        import psycopg2

        conn = psycopg2.connect(PG_ADMIN_URL)
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
        try:
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
        finally:
            conn.close()

    def _pick_redis_db(self) -> int:
        """Claim an empty Redis database: the first of 15..1 where our claim key is new and alone."""
        for db in range(15, 0, -1):  # 0 is everybody's default: left alone
            if _redis_in_db(db, "SET", CLAIM_KEY, self.name, "NX") != "OK":
                continue  # another cluster's
            if int(_redis_in_db(db, "DBSIZE")) == 1:
                return db
            _redis_in_db(db, "DEL", CLAIM_KEY)  # someone else's keys are there: give it back
        raise RuntimeError(f"no empty Redis database on {REDIS_HOST}:{REDIS_PORT} (1-15 all hold keys)")

    def init(self) -> None:
        for sub in ("airflow", "logs", "pids", "secrets"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        if not self.password_file.exists():
            self.password_file.write_text(json.dumps({"admin": secrets.token_urlsafe(12)}))
        self._pg(
            f'DROP DATABASE IF EXISTS "{self.airflow_db}" WITH (FORCE)',
            f'DROP DATABASE IF EXISTS "{self.mlflow_db}" WITH (FORCE)',
            f'CREATE DATABASE "{self.airflow_db}"',
            f'CREATE DATABASE "{self.mlflow_db}"',
        )
        self.start(self.services)
        self.wait_http(f"http://127.0.0.1:{self.moto_port}/moto-api/", "moto")
        self.s3_client().create_bucket(Bucket=BUCKET)
        self.wait_http(f"{self.mlflow_uri}/health", "mlflow")
        self.airflow("db", "migrate", timeout=600)
        self.write_env_file()

    def destroy(self) -> None:
        """Stop every process, drop both databases and empty the Redis database: nothing of the cluster is left."""
        self.stop(timeout=20)
        self._pg(
            f'DROP DATABASE IF EXISTS "{self.airflow_db}" WITH (FORCE)',
            f'DROP DATABASE IF EXISTS "{self.mlflow_db}" WITH (FORCE)',
        )
        if (self.home / "secrets" / "redis_db").exists():
            _redis_in_db(self.redis_db, "FLUSHDB")

    def wait_http(self, url: str, what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not answering at {url} after {timeout:.0f} s; see {self.home / 'logs'}")
            time.sleep(0.5)

    # -- S3 ------------------------------------------------------------------------------------------

    def s3_client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.s3_url,
            aws_access_key_id=AWS_KEY,
            aws_secret_access_key=AWS_KEY,
            region_name="us-east-1",
        )

    def upload(self, folder: Path, prefix: str) -> list[str]:
        """Copy every file under ``folder`` to ``s3://<bucket>/<prefix>/`` (same relative paths); their keys."""
        client, keys = self.s3_client(), []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            key = f"{prefix.strip('/')}/{path.relative_to(folder).as_posix()}"
            client.upload_file(str(path), BUCKET, key)
            keys.append(key)
        return keys
