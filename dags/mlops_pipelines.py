# Airflow DAG loader: one training DAG (and friends) per model config in dags/configs/.
from mlops_provider.factories import load_dags

load_dags(globals())
