"""Drift check against the champion's own training data, and the brakes on drift-triggered retraining.

The reference is the snapshot the champion was trained on (found through its lineage, hash-verified),
never whatever file sits at a path today. The current window is the prediction log of the last
``drift.window_days`` days: the features as they were served, and the scores. Verdicts on the full data
come from the fast engine (:mod:`mlops_provider.monitoring.engine`: Evidently's methods, thresholds and
binning, computed column by column); Evidently only renders the HTML report, on a sample, logged to a
monitoring MLflow run. The brakes on drift-triggered retraining (cooldown, de-duplication, circuit
breaker, no new data) are :func:`mlops_provider.monitoring.brakes.decide`, with their state on the
registered model's tag ``mlops.drift_episode``.

The operators here are thin: they fetch, call :mod:`mlops_provider.monitoring`, log and push to XCom.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from mlops_provider.monitoring import DriftInputError
from mlops_provider.naming import DRIFT_REPORT_ARTIFACT, MONITORING_EXPERIMENT_SUFFIX
from mlops_provider.operators.base import MlopsBaseOperator

if TYPE_CHECKING:
    import pandas as pd
    from airflow.sdk import Context

REPORT_KEY = "drift_report_url"


class DriftReportLink(BaseOperatorLink):
    """Extra link on the drift-check task: the Evidently HTML report of that check."""

    name = "Drift report"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        value = XCom.get_value(ti_key=ti_key, key=REPORT_KEY)
        return str(value) if value else ""


def _now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _task_failure() -> Iterator[None]:
    """A drift check that cannot run on its inputs fails the task at once (retrying would not help)."""
    try:
        yield
    except DriftInputError as exc:
        raise AirflowFailException(str(exc)) from exc


class DriftCheckOperator(MlopsBaseOperator):
    """Measure feature and prediction drift of the current window against the champion's reference.

    :param prediction_log: root of the prediction log (templated).
    :param feature_results: outputs of :class:`FeatureDriftOperator` mapped over column groups (templated);
        when given, the feature verdicts are merged from them instead of computed here.
    :return: ``{"champion_version", "drift_share", "dataset_drift", "drifted_columns", "columns",
        "prediction": {...}, "report_uri", "decision": {"emit", "reason", "brake"}, "episode"}``
    """

    template_fields: Sequence[str] = ("prediction_log", "feature_results")
    operator_extra_links = (DriftReportLink(),)
    ui_color = "#fde2e4"

    def __init__(self, *, prediction_log: str, feature_results: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prediction_log = prediction_log
        self.feature_results = feature_results

    def _current_window(self, ds: str) -> tuple[pd.DataFrame, list[str]]:
        from mlops_provider.monitoring.window import current_window

        with _task_failure():
            return current_window(self.prediction_log, ds, self.pipeline, self.storage)

    def announce_verdict(
        self,
        context: Context,
        features: Any,
        prediction: Any,
        version: str,
        decision: Any,
        *,
        episode: Mapping[str, Any] | None,
        closed: bool,
    ) -> None:
        """Alert on what the check found: drift (with the retrain or the brake that held it), the circuit breaker
        opening (escalation), or nothing. Checks held back because a retrain is on its way, or by a breaker or a
        no-new-data finding already escalated, stay quiet. Drift gone closes the model's drift incidents."""
        from mlops_provider.monitoring import check
        from mlops_provider.notifications import catalogue, incidents

        cfg = self.pipeline
        link = self.run_link(context)
        if not features.dataset_drift:  # also after a person closed the episode by hand (the runbook's way)
            reason = decision.reason if closed else "no dataset drift in this check"
            try:
                incidents.resolve(self.model_name, "drift", reason)
            except Exception as exc:  # the verdict stands; the incident stays open until the next clean check
                self.log.error("Could not resolve the drift incidents of %s: %s", self.model_name, exc)
            return
        if decision.escalate:
            self.announce(
                catalogue.circuit_open(
                    model=self.model_name,
                    retrains=int((episode or {}).get("unresolved") or cfg.drift.max_consecutive_retrains),
                    limit=cfg.drift.max_consecutive_retrains,
                    share=features.drift_share,
                    drifted=features.drifted_columns,
                    reason=decision.reason,
                    link=link,
                )
            )
            return
        if decision.brake in ("deduplication", "circuit_breaker", "no_new_data", "budget"):
            return
        # most drifted first: how far past its threshold, whichever way the method reads (p-value or distance)
        drifted = check.most_drifted_first(features)
        self.announce(
            catalogue.drift_detected(
                model=self.model_name,
                champion=version,
                drifted=features.drifted_columns,
                features=len(features.columns),
                share=features.drift_share,
                threshold=cfg.drift.drift_share,
                top=[(c.column, c.method, c.score) for c in drifted[:5]],
                prediction=prediction.text(),
                retrain=bool(decision.emit),
                brake=decision.brake,
                reason=decision.reason,
                link=link,
            )
        )

    def execute(self, context: Context) -> dict[str, Any]:
        import tempfile
        from pathlib import Path

        import mlflow

        from mlops_provider.monitoring import check, reference
        from mlops_provider.monitoring.brakes import decide
        from mlops_provider.monitoring.evidently import save_html

        cfg = self.pipeline
        client = self.mlflow_hook.get_conn()
        with _task_failure():
            version = reference.champion_version(self.mlflow_hook.registry, self.model_name)
        log, days = self._current_window(context["ds"])
        if len(log) < cfg.drift.min_rows:
            default = "" if "min_rows" in cfg.drift.model_fields_set else " (the default)"
            raise AirflowSkipException(
                f"no drift verdict: only {len(log)} scored rows in {', '.join(days)}, fewer than drift.min_rows = "
                f"{cfg.drift.min_rows}{default}. For a small data set lower drift.min_rows (a verdict on few "
                "rows is noisy: see 'Small data sets' in docs/drift.md) or widen drift.window_days"
            )
        snapshot = reference.champion_snapshot(client, self.model_name, version, self.storage)
        holdout, pred_numeric, pred_categorical = reference.holdout_scores(client, self.mlflow_hook, cfg, version)
        columns = cfg.data.features.all
        with _task_failure():
            check.require_prediction_columns(cfg, log, [*pred_categorical, *pred_numeric], version, days)
            if self.feature_results is None:
                features = check.feature_drift(cfg, snapshot, log, columns)
            else:  # the column groups were checked by mapped tasks: one verdict over all of them
                features = check.merge_groups(self.feature_results, version, cfg.drift.drift_share)
        prediction = check.prediction_drift(cfg, holdout, log, pred_numeric, pred_categorical)

        # Evidently renders the report people look at, on a deterministic sample of each side.
        shown = check.report_columns(cfg, features)
        if len(shown) < len(columns):
            self.log.info(
                "The HTML report shows %d of %d features (drift.report_columns): the %d drifted first",
                len(shown),
                len(columns),
                min(len(features.drifted_columns), len(shown)),
            )
        snap = check.drift_report(cfg, snapshot, log, shown)
        experiment = self.mlflow_hook.ensure_experiment(self.model_name + MONITORING_EXPERIMENT_SUFFIX)
        with mlflow.start_run(experiment_id=experiment, run_name=f"drift-{context['ds']}") as run:
            mlflow.set_tags(
                {
                    "mlops.model": self.model_name,
                    "mlops.champion_version": version,
                    "mlops.window": ",".join(days),
                    "mlops.airflow_run_id": context["run_id"],
                }
            )
            mlflow.log_metrics(
                {
                    "drift_share": features.drift_share,
                    "prediction_drift_score": prediction.main.score,
                    **{_metric_name(f"prediction_drift_score.{c.column}"): c.score for c in prediction.columns},
                    "prediction_mean_shift": prediction.mean_shift,
                    "rows_current": len(log),
                    **{f"drift_score.{c.column}": c.score for c in features.columns},
                    # what the dashboard shows per feature: the threshold the score was judged by and the verdict
                    **{f"drift_threshold.{c.column}": c.threshold for c in features.columns},
                    **{f"drifted.{c.column}": float(c.drifted) for c in features.columns},
                    "dataset_drift": float(features.dataset_drift),
                }
            )
            with tempfile.TemporaryDirectory() as tmp:
                html = save_html(snap, Path(tmp) / DRIFT_REPORT_ARTIFACT)
                mlflow.log_artifact(str(html))
            report_uri = f"{run.info.artifact_uri}/{DRIFT_REPORT_ARTIFACT}"
        context["ti"].xcom_push(key=REPORT_KEY, value=report_uri)

        registry = self.mlflow_hook.registry
        episode = registry.drift_episode(self.model_name)
        last_training, runs = reference.last_training(client, self.experiment_name)
        decision, new_episode = decide(
            cfg.drift,
            features.dataset_drift,
            episode,
            last_training,
            runs,
            _now(),
            version,
            budget_hold=registry.budget_hold(self.model_name),
        )
        registry.set_drift_episode(self.model_name, new_episode)
        summary = check.summary(cfg, features, prediction, version, decision.reason)
        self.log.info("%s. Report: %s", summary, report_uri)
        self.announce_verdict(
            context,
            features,
            prediction,
            version,
            decision,
            episode=new_episode,
            closed=bool(episode) and not new_episode,
        )
        return {
            "champion_version": version,
            "window": days,
            "rows_current": len(log),
            "rows_reference": len(snapshot),
            "drift_share": features.drift_share,
            "dataset_drift": features.dataset_drift,
            "drifted_columns": features.drifted_columns,
            "columns": [c.__dict__ for c in features.columns],
            "prediction": prediction.as_dict(),
            "prediction_columns": [c.__dict__ for c in prediction.columns],
            "report_uri": report_uri,
            "mlflow_run_id": run.info.run_id,  # the monitoring run: what the cost report sizes
            "decision": decision.as_dict(),
            "summary": summary,
        }


class FeatureDriftOperator(MlopsBaseOperator):
    """Feature drift of one group of columns (for wide tables: map it over groups with ``expand``).

    :param prediction_log: root of the prediction log (templated).
    :param columns: the feature columns of this group (templated).
    :param feature_results: accepted for compatibility with :class:`DriftCheckOperator`'s signature; unused.
    :return: ``DriftResult.as_dict()`` of the group plus ``champion_version``.
    """

    template_fields: Sequence[str] = ("prediction_log", "columns")
    operator_extra_links = ()
    ui_color = "#fde2e4"

    def __init__(self, *, prediction_log: str, columns: list[str], feature_results: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prediction_log = prediction_log
        self.columns = columns
        self.feature_results = feature_results

    def execute(self, context: Context) -> dict[str, Any]:
        from mlops_provider.monitoring import check, reference
        from mlops_provider.monitoring.window import current_window

        client = self.mlflow_hook.get_conn()
        with _task_failure():
            version = reference.champion_version(self.mlflow_hook.registry, self.model_name)
            log, days = current_window(self.prediction_log, context["ds"], self.pipeline, self.storage)
        snapshot = reference.champion_snapshot(client, self.model_name, version, self.storage)
        result = check.feature_drift(self.pipeline, snapshot, log, list(self.columns))
        self.log.info(
            "Columns %s over %s: %d drifted (%s)",
            list(self.columns),
            days,
            len(result.drifted_columns),
            ", ".join(result.drifted_columns) or "none",
        )
        return {**result.as_dict(), "champion_version": version}


class EmitDriftEventOperator(MlopsBaseOperator):
    """Emit the ``mlops://<model>/drift`` Asset event when the check decided so; skip (no event) otherwise.

    :param check: output of :class:`DriftCheckOperator` (templated).
    """

    template_fields: Sequence[str] = ("check",)
    ui_color = "#f5c6cb"

    def __init__(self, *, check: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check

    def execute(self, context: Context) -> dict[str, Any]:
        check = dict(self.check)
        if not check["decision"]["emit"]:
            raise AirflowSkipException(check["decision"]["reason"])
        extra = {
            "drift_share": check["drift_share"],
            "drifted_columns": check["drifted_columns"],
            "report_uri": check["report_uri"],
            "champion_version": check["champion_version"],
            "prediction_mean_shift": check["prediction"]["mean_shift"],
        }
        for outlet in self.outlets or []:
            context["outlet_events"][outlet].extra = extra
        self.log.info("Drift event emitted: %s", extra)
        return extra


def _metric_name(name: str) -> str:
    """``name`` as MLflow accepts it (letters, digits, ``_ - . / :`` and spaces): class labels may hold others."""
    import re

    return re.sub(r"[^/\w.\- :]", "_", name)
