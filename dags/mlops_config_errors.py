# Airflow DAG file with no DAGs: it reports broken configs in dags/configs/ as import errors, so the
# loader (mlops_pipelines.py) can keep building every valid model's DAGs.
from mlops_provider.factories import raise_config_errors

raise_config_errors(__file__)
