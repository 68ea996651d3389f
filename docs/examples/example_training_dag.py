# The hand-written training DAG of docs/operators.md ("A hand-written DAG"): the text between the markers is
# the documentation's code block, word for word (tests/unit/test_docs_examples.py), and the DAG runs end to end
# in tests/integration/test_docs_examples.py. It lives outside dags/, so no dag-processor loads it.
# [START howto_operator_training]
"""Churn, retrained every Monday from a config kept next to this file."""

from pathlib import Path

from airflow.sdk import DAG

from mlops_provider.config import load_config
from mlops_provider.notifications.alerts import AlertNotifier
from mlops_provider.operators.data import ValidateDataOperator
from mlops_provider.operators.gates import EvaluateGatesOperator
from mlops_provider.operators.registry import PromoteModelOperator, RegisterModelOperator
from mlops_provider.operators.training import TrainModelOperator

# Outside dags/configs/, so the YAML loader does not build a second DAG for this model.
config = load_config(Path(__file__).parent / "churn_weekly.yaml")

with DAG(
    dag_id="churn_weekly_training",
    schedule="0 3 * * 1",
    max_active_runs=1,
    default_args={"retries": 1, "on_failure_callback": [AlertNotifier(model=config.model)]},
    tags=["mlops", config.model],
) as dag:
    validate = ValidateDataOperator(task_id="validate_data", config=config)
    train = TrainModelOperator(task_id="train", config=config, dataset=validate.output)
    gates = EvaluateGatesOperator(task_id="evaluate_gates", config=config, training=train.output)
    register = RegisterModelOperator(task_id="register", config=config, training=train.output, gates=gates.output)
    promote = PromoteModelOperator(
        task_id="promote",
        config=config,
        registration=register.output,
        reason="weekly retrain, DAG run {{ run_id }}",
    )
    validate >> train >> gates >> register >> promote
# [END howto_operator_training]
