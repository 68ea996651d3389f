"""Executors whose worker processes import the heavy libraries once, before they take tasks.

Task processes are forks of their worker (the task SDK's supervisor forks every task), so whatever the
worker imported is already loaded in every task: pandas, scikit-learn, MLflow and Great Expectations
are imported once per worker instead of once per task. Opt in per deployment (docs/deployment.md):

* LocalExecutor: ``[core] executor = mlops_provider.executors.local.WarmLocalExecutor``
* CeleryExecutor: ``[celery] celery_config_options = mlops_provider.executors.celery.CELERY_CONFIG``

Nothing here imports a heavy library at module level: the scheduler, which imports the executor class,
stays light. :mod:`mlops_provider.executors.warm` does the importing, in the worker.
"""
