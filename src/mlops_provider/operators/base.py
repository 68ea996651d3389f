"""The one base operator every MLOps operator derives from.

It holds what all of them share: the model's :class:`PipelineConfig`, the MLflow and AWS connection
ids, the MLflow hook and storage built at run time, and where snapshots live. Nothing heavy is imported
at module level: this module is loaded on every DAG parse.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Generator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from mlops_provider.config import PipelineConfig

if TYPE_CHECKING:
    from mlops_provider.hooks.mlflow import MlflowHook
    from mlops_provider.hooks.storage import Storage


def quiet_library_noise() -> None:
    """Keep two libraries' import-time chatter out of task logs (and off the task's clock).

    * skops (MLflow's scikit-learn format) builds its list of trusted types by probing every loaded
      module for attribute names. In a task process that includes Airflow's deprecation shims, which
      answer each probe with a ``DeprecatedImportWarning``: over a thousand log records per model save
      or load, each routed through Airflow's structured logging.
    * Great Expectations logs a line per documented function at INFO while it imports.

    Both filters are narrow: only warnings raised from skops' module scan, only that GX logger. MLflow's
    own stderr logging is routed to Airflow's handlers by the MLflow hook
    (:func:`mlops_provider.hooks.mlflow.route_mlflow_logging`), when MLflow is first used.
    """
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"skops\.io\._utils")
    logging.getLogger("great_expectations._docs_decorators").setLevel(logging.WARNING)


class MlopsBaseOperator(BaseOperator):
    """Base of the MLOps operators.

    :param config: the model's pipeline config (a :class:`PipelineConfig` or its dict form).
    :param mlflow_conn_id: connection of type ``mlflow`` for tracking and registry.
    :param aws_conn_id: AWS connection used for ``s3://`` data and snapshots.
    """

    template_fields: Sequence[str] = ()
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        config: PipelineConfig | Mapping[str, Any],
        mlflow_conn_id: str = "mlflow_default",
        aws_conn_id: str | None = "aws_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.mlflow_conn_id = mlflow_conn_id
        self.aws_conn_id = aws_conn_id

    def pre_execute(self, context: Any) -> None:
        from mlops_provider.cost.usage import Meter

        quiet_library_noise()
        self._meter = Meter.start()
        super().pre_execute(context)

    def post_execute(self, context: Any, result: Any = None) -> None:
        """Push what this task used (XCom ``mlops_resources``) for the run's cost report; never fails the task."""
        from mlops_provider.naming import RESOURCES_XCOM

        super().post_execute(context, result)
        meter = getattr(self, "_meter", None)
        if meter is None:
            return
        try:
            context["ti"].xcom_push(key=RESOURCES_XCOM, value=meter.reading())
        except Exception as exc:  # the cost report then counts this task as unmeasured
            self.log.warning("Could not record this task's resource use: %s", exc)

    @cached_property
    def pipeline(self) -> PipelineConfig:
        if isinstance(self.config, PipelineConfig):
            return self.config
        from mlops_provider import settings

        # validated as the DAG loader validates: with the deployment's estimator modules and data roots
        return PipelineConfig.model_validate(dict(self.config), context=settings.validation_context())

    @cached_property
    def mlflow_hook(self) -> MlflowHook:
        from mlops_provider.hooks.mlflow import MlflowHook

        return MlflowHook(mlflow_conn_id=self.mlflow_conn_id)

    @cached_property
    def storage(self) -> Storage:
        from mlops_provider.hooks.storage import Storage

        return Storage(aws_conn_id=self.aws_conn_id)

    @property
    def model_name(self) -> str:
        return self.pipeline.model

    @property
    def experiment_name(self) -> str:
        return self.pipeline.model

    def snapshot_root(self) -> str:
        from mlops_provider import settings
        from mlops_provider.hooks.storage import join

        configured = settings.get("snapshot_root")
        if configured:
            return configured
        if self.mlflow_hook.artifact_root:
            return join(self.mlflow_hook.artifact_root, "snapshots")
        raise ValueError(
            "nowhere to keep training snapshots: set the [mlops] snapshot_root Airflow option, or "
            f"artifact_root in the extra of MLflow connection {self.mlflow_conn_id!r}"
        )

    def allowed_estimator_modules(self) -> tuple[str, ...]:
        from mlops_provider import settings

        return settings.allowed_estimator_modules()

    def announce(self, alert: Any) -> None:
        """Send an operational alert (:mod:`mlops_provider.notifications.catalogue`) through the model's alerting
        connection and record its incident; never fails the task, also when building it fails (pass a function
        that builds it when that reads the registry): :func:`~mlops_provider.notifications.alerts.announce`."""
        from mlops_provider.notifications.alerts import announce

        announce(alert, self.pipeline.alerting.slack_conn_id, log=self.log)

    def primary_metric(self, version: str | None) -> float | None:
        """The config's primary metric as recorded on ``version`` (tag ``mlops.metrics``), None if absent."""
        import json

        from mlops_provider.naming import METRICS_TAG

        if not version:
            return None
        try:
            tags = self.mlflow_hook.get_conn().get_model_version(self.model_name, version).tags or {}
            value = json.loads(tags.get(METRICS_TAG, "{}")).get(self.pipeline.primary_metric)
        except Exception:  # the alert goes out without the number
            return None
        return float(value) if isinstance(value, int | float) else None

    @staticmethod
    def run_link(context: Mapping[str, Any]) -> str | None:
        """This DAG run's page in the Airflow UI (``[api] base_url``), None when the base URL is not set."""
        from mlops_provider import settings
        from mlops_provider.notifications.catalogue import run_url

        dag_id = getattr(context.get("dag"), "dag_id", None) or getattr(context.get("ti"), "dag_id", "")
        return run_url(settings.ui_base_url(), str(dag_id), context.get("run_id"))

    def drift_triggered(self, context: Mapping[str, Any]) -> bool:
        """Whether this DAG run was started by the model's drift Asset (a drift-triggered retrain)."""
        events = self.trigger_record(context).get("asset_events") or []
        return any(e.get("asset") == self.pipeline.drift_asset_uri for e in events)

    @contextmanager
    def mlflow_run(self, run_id: str) -> Generator[Any, None, None]:
        """Resume the DAG run's MLflow run for logging; always closes it."""
        import mlflow

        self.mlflow_hook.get_conn()
        with mlflow.start_run(run_id=run_id) as run:
            yield run

    @staticmethod
    def trigger_record(context: Mapping[str, Any]) -> dict[str, Any]:
        """What started this DAG run: run type, and the asset events (with their extra) if any."""
        dag_run = context.get("dag_run")
        run_type = str(getattr(dag_run, "run_type", "unknown") or "unknown")
        record: dict[str, Any] = {"run_type": run_type.rsplit(".", 1)[-1].lower()}
        events = context.get("triggering_asset_events") or {}
        found = []
        try:
            for asset, asset_events in events.items():
                for event in asset_events:
                    found.append(
                        {
                            "asset": getattr(asset, "uri", str(asset)),
                            "extra": dict(getattr(event, "extra", {}) or {}),
                        }
                    )
        except Exception:  # pragma: no cover - accessor differences between Airflow releases
            found = []
        if found:
            record["asset_events"] = found
        return record
