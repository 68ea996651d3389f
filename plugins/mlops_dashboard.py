# The MLOps dashboard for an Airflow that loads plugins from this folder ([core] plugins_folder). A pip-installed
# airflow-provider-mlops registers the same plugin through its entry point; Airflow loads it once either way.
from mlops_provider.dashboard.plugin import MlopsDashboardPlugin

__all__ = ["MlopsDashboardPlugin"]
