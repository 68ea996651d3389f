"""Drift check against the champion's own training data, and the brakes on drift-triggered retraining.

The reference is the snapshot the champion was trained on (found through its lineage, hash-verified),
never whatever file sits at a path today. The current window is the prediction log of the last
``drift.window_days`` days: the features as they were served, and the scores. Verdicts on the full data
come from :mod:`mlops_provider.drift` (Evidently's methods, thresholds and binning, computed column by
column); Evidently itself renders the HTML report on a sample, logged to a monitoring MLflow run.

Brakes, with their state on the registered model's tag ``mlops.drift_episode``:

* cooldown: no drift-triggered retrain within ``cooldown_hours`` of the last training run;
* de-duplication: one retrain request per drift episode until that retrain has finished;
* circuit breaker: after ``max_consecutive_retrains`` retrains in one episode that did not bring drift
  under the threshold, stop emitting and escalate to a human with the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

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


def served_features(log: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The prediction log with its ``feature.<column>`` values under the feature names."""
    return log.rename(columns={f"feature.{c}": c for c in columns})


def _prediction_text(main: str | None, shift: float, results: Sequence[Any]) -> str:
    """How the predictions moved, in words: the mean shift of the main numeric prediction column, and the
    per-column verdicts (predicted class distribution, class probabilities)."""
    parts = [f"{c.column} {c.method} {c.score:.3f}{' DRIFT' if c.drifted else ''}" for c in results]
    head = f"prediction {main} mean shifted {shift:+.1%}" if main else "predictions"
    return f"{head} ({'; '.join(parts)})"


def window_dates(ds: str, days: int) -> list[str]:
    end = date.fromisoformat(ds)
    return [(end - timedelta(days=i)).isoformat() for i in range(days - 1, -1, -1)]


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

    # -- data --------------------------------------------------------------------------------------

    def _current_window(self, ds: str) -> tuple[pd.DataFrame, list[str]]:
        import io

        import pandas as pd

        from mlops_provider.datasets import resolve_source
        from mlops_provider.operators.scoring import prediction_log_uris
        from mlops_provider.paths import DataRoots

        roots = DataRoots.from_settings()  # every file read must really lie inside the data roots (not retried)
        root = resolve_source(self.prediction_log, roots, "scoring.output")
        frames, days = [], []
        for day in window_dates(ds, self.pipeline.drift.window_days):
            for candidate in prediction_log_uris(self.prediction_log, day):  # scoring_date=, then legacy date=
                uri = resolve_source(candidate, roots, "scoring.output")
                if self.storage.exists(uri):
                    frames.append(pd.read_parquet(io.BytesIO(self.storage.read_bytes(uri))))
                    days.append(day)
                    break
        if not frames:
            raise AirflowFailException(
                f"no prediction log under {root} for {', '.join(window_dates(ds, self.pipeline.drift.window_days))}; "
                f"run {self.pipeline.dag_id('scoring')} for those dates first"
            )
        return pd.concat(frames, ignore_index=True), days

    def _snapshot(self, client: Any, version: str) -> pd.DataFrame:
        """The champion's training snapshot, found through its lineage and hash-verified."""
        from mlops_provider import lineage
        from mlops_provider.datasets import read_snapshot

        record = lineage.from_tags(client.get_model_version(self.model_name, version).tags or {})
        return read_snapshot(record["data_snapshot"], record["data_sha256"], self.storage)

    def _holdout_scores(self, client: Any, version: str) -> tuple[pd.DataFrame, list[str], list[str]]:
        """The champion's predictions on its holdout, in the prediction log's columns (the prediction
        baseline), and which of those columns drift compares: (frame, numeric, categorical)."""
        import mlflow
        import pandas as pd

        from mlops_provider.modeling import drift_columns, features_frame, predict, prediction_columns

        mv = client.get_model_version(self.model_name, version)
        holdout = self.mlflow_hook.load_holdout(mv.run_id)
        model = mlflow.sklearn.load_model(f"models:/{self.model_name}/{version}")
        p = predict(model, features_frame(holdout, self.pipeline), self.pipeline.task)
        numeric, categorical = drift_columns(p.labels, p.classes, p.proba is not None)
        return pd.DataFrame(prediction_columns(p, self.pipeline.task)), numeric, categorical

    def _champion(self, client: Any) -> str:
        version = self.mlflow_hook.registry.champion(self.model_name)
        if version is None:
            raise AirflowFailException(
                f"{self.model_name} has no champion; there is no reference to check drift against yet"
            )
        return version

    def _feature_drift(self, snapshot: pd.DataFrame, log: pd.DataFrame, columns: list[str]) -> Any:
        from mlops_provider.drift import compute_drift

        return compute_drift(snapshot, served_features(log, columns), **self._drift_settings(columns))

    def _drift_settings(self, columns: list[str]) -> dict[str, Any]:
        """The config's drift settings for ``columns``, as compute_drift/evidently_drift keyword arguments."""
        cfg = self.pipeline
        per_column = {k: v.model_dump(exclude_none=True) for k, v in cfg.drift.per_column.items() if k in columns}
        return {
            "numeric": [c for c in cfg.data.features.numeric if c in columns],
            "categorical": [c for c in cfg.data.features.categorical if c in columns],
            "method": cfg.drift.method,
            "threshold": cfg.drift.threshold,
            "per_column": per_column or None,
            "drift_share": cfg.drift.drift_share,
        }

    # -- brakes ------------------------------------------------------------------------------------

    def _last_training(self, client: Any) -> tuple[datetime | None, list[Any]]:
        exp = client.get_experiment_by_name(self.experiment_name)
        if exp is None:
            return None, []
        runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=50)
        last = datetime.fromtimestamp(runs[0].info.start_time / 1000, tz=UTC) if runs else None
        return last, list(runs)

    def decide(
        self,
        drifted: bool,
        episode: dict[str, Any] | None,
        last_training: datetime | None,
        runs: list[Any],
        now: datetime,
        champion: str | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The brakes. Returns (decision, new episode state or None when the episode is over)."""
        cfg = self.pipeline.drift
        if not drifted:
            if episode:
                return (
                    {
                        "emit": False,
                        "brake": None,
                        "reason": "drift is back under the threshold; the drift "
                        f"episode that started {episode['started']} is closed",
                    },
                    None,
                )
            return {"emit": False, "brake": None, "reason": "no dataset drift"}, None
        episode = dict(
            episode
            or {"started": now.isoformat(timespec="seconds"), "requests": [], "unresolved": 0, "breaker_open": False}
        )
        if episode.get("breaker_open"):
            return (
                {
                    "emit": False,
                    "brake": "circuit_breaker",
                    "reason": f"circuit breaker open since "
                    f"{episode.get('breaker_opened')}: {episode['unresolved']} drift-triggered retrains did not "
                    "bring drift under the threshold; a human must look (see the runbook), then close the "
                    "episode",
                },
                episode,
            )
        stale = episode.get("no_new_data")
        if stale and champion is not None and str(stale.get("champion")) != str(champion):
            episode.pop("no_new_data")  # a newer champion since: new data came in, retraining can help again
        elif stale:
            return (
                {
                    "emit": False,
                    "brake": "no_new_data",
                    "reason": f"drift persists, but there are no new labeled rows since v{stale.get('champion')} "
                    f"(snapshot {str(stale.get('data_sha256', ''))[:12]}…, found by the retrain of "
                    f"{stale.get('at')}); retraining cannot fix this, a person was alerted. No retrain is requested "
                    "until a new champion is trained from new data or the episode is closed (docs/runbooks/drift.md)",
                },
                episode,
            )
        if episode["requests"]:
            requested = datetime.fromisoformat(episode["requests"][-1])
            finished = [
                r
                for r in runs
                if r.info.end_time and datetime.fromtimestamp(r.info.start_time / 1000, tz=UTC) >= requested
            ]
            if not finished:
                return (
                    {
                        "emit": False,
                        "brake": "deduplication",
                        "reason": "a retrain for this drift episode was "
                        f"requested at {episode['requests'][-1]} and has not finished; not asking again",
                    },
                    episode,
                )
            episode["unresolved"] = int(episode.get("unresolved", 0)) + 1
            if episode["unresolved"] >= cfg.max_consecutive_retrains:
                episode["breaker_open"] = True
                episode["breaker_opened"] = now.isoformat(timespec="seconds")
                return (
                    {
                        "emit": False,
                        "brake": "circuit_breaker",
                        "escalate": True,
                        "reason": f"circuit breaker opened: {episode['unresolved']} consecutive drift-triggered "
                        f"retrains (limit {cfg.max_consecutive_retrains}) did not bring drift under the "
                        "threshold; retraining cannot fix this one, escalating to a human",
                    },
                    episode,
                )
        if last_training is not None and now - last_training < timedelta(hours=cfg.cooldown_hours):
            hours = (now - last_training).total_seconds() / 3600
            return (
                {
                    "emit": False,
                    "brake": "cooldown",
                    "reason": f"cooldown: the last training started "
                    f"{hours:.1f} h ago, within the {cfg.cooldown_hours:g} h cooldown (drift.cooldown_hours = "
                    f"{cfg.cooldown_hours:g}{'' if 'cooldown_hours' in cfg.model_fields_set else ', the default'}); "
                    "no retrain yet (lower drift.cooldown_hours to retrain sooner)",
                },
                episode,
            )
        episode["requests"] = [*episode["requests"], now.isoformat(timespec="seconds")]
        return {"emit": True, "brake": None, "reason": "dataset drift: retraining requested"}, episode

    # -- main --------------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        import tempfile
        from pathlib import Path

        import mlflow

        from mlops_provider.drift import compute_drift, evidently_drift, merge_results, report_sample, save_html

        cfg = self.pipeline
        client = self.mlflow_hook.get_conn()
        version = self._champion(client)
        log, days = self._current_window(context["ds"])
        if len(log) < cfg.drift.min_rows:
            default = "" if "min_rows" in cfg.drift.model_fields_set else " (the default)"
            raise AirflowSkipException(
                f"no drift verdict: only {len(log)} scored rows in {', '.join(days)}, fewer than drift.min_rows = "
                f"{cfg.drift.min_rows}{default}. For a small data set lower drift.min_rows (a verdict on few "
                "rows is noisy: see 'Small data sets' in docs/drift.md) or widen drift.window_days"
            )
        snapshot = self._snapshot(client, version)
        holdout, pred_numeric, pred_categorical = self._holdout_scores(client, version)
        pred_columns = [*pred_categorical, *pred_numeric]
        absent = [c for c in pred_columns if c not in log.columns]
        if absent:
            raise AirflowFailException(
                f"the prediction log lacks column(s) {', '.join(absent)} that champion v{version}'s predictions "
                f"have; re-run {cfg.dag_id('scoring')} for {', '.join(days)} with the current champion"
            )
        columns = cfg.data.features.all
        if self.feature_results is None:
            features = self._feature_drift(snapshot, log, columns)
        else:  # the column groups were checked by mapped tasks: one verdict over all of them
            parts = list(self.feature_results)
            stale = {p["champion_version"] for p in parts} - {version}
            if stale:
                raise AirflowFailException(
                    f"column groups were checked against champion v{', v'.join(sorted(stale))} but the champion "
                    f"is now v{version}; re-run the DAG run so every group uses the same reference"
                )
            features = merge_results(parts, cfg.drift.drift_share)
        # Predictions: binary -> the positive-class score; multiclass -> the predicted class (categorical) and
        # each class probability; regression -> the predicted value (see modeling.drift_columns).
        settings = {
            k: v
            for k, v in (("method", cfg.drift.prediction_method), ("threshold", cfg.drift.prediction_threshold))
            if v is not None
        }
        current = log[pred_columns].copy()
        for c in pred_numeric:
            current[c] = current[c].astype("float64")
        prediction_results = compute_drift(
            holdout[pred_columns],
            current,
            pred_numeric,
            pred_categorical,
            # drift.prediction_method/threshold are for numeric prediction columns; the predicted class of a
            # multiclass model uses the default categorical method
            per_column={c: settings for c in pred_numeric} if settings else None,
        ).columns
        prediction = next((c for c in prediction_results if c.column == "prediction"), prediction_results[0])
        main = pred_numeric[0] if pred_numeric and not pred_categorical else None
        ref_mean = float(holdout[main].astype("float64").mean()) if main else None
        cur_mean = float(current[main].mean()) if main else None
        shift = (cur_mean - ref_mean) / ref_mean if main and ref_mean else 0.0

        # Evidently renders the report people look at, on a deterministic sample of each side.
        n = cfg.drift.report_rows
        _, snap = evidently_drift(
            report_sample(snapshot, n), report_sample(served_features(log, columns), n), **self._drift_settings(columns)
        )
        experiment = self.mlflow_hook.ensure_experiment(f"{self.model_name}-monitoring")
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
                    "prediction_drift_score": prediction.score,
                    **{_metric_name(f"prediction_drift_score.{c.column}"): c.score for c in prediction_results},
                    "prediction_mean_shift": shift,
                    "rows_current": len(log),
                    **{f"drift_score.{c.column}": c.score for c in features.columns},
                }
            )
            with tempfile.TemporaryDirectory() as tmp:
                html = save_html(snap, Path(tmp) / "drift_report.html")
                mlflow.log_artifact(str(html))
            report_uri = f"{run.info.artifact_uri}/drift_report.html"
        context["ti"].xcom_push(key=REPORT_KEY, value=report_uri)

        registry = self.mlflow_hook.registry
        episode = registry.drift_episode(self.model_name)
        last_training, runs = self._last_training(client)
        decision, new_episode = self.decide(features.dataset_drift, episode, last_training, runs, _now(), version)
        registry.set_drift_episode(self.model_name, new_episode)
        summary = (
            f"{self.model_name}: {len(features.drifted_columns)} of {len(features.columns)} features drifted "
            f"(share {features.drift_share:.0%}, threshold {cfg.drift.drift_share:.0%}: "
            f"{'DRIFT' if features.dataset_drift else 'no dataset drift'}); "
            f"{_prediction_text(main, shift, prediction_results)} from the champion v{version} baseline; "
            f"{decision['reason']}"
        )
        self.log.info("%s. Report: %s", summary, report_uri)
        if decision.get("escalate"):
            from mlops_provider.notifications.alerts import AlertNotifier

            AlertNotifier(model=self.model_name, slack_conn_id=cfg.alerting.slack_conn_id).deliver(
                f":rotating_light: {summary}. Drifted: {', '.join(features.drifted_columns)}. Report: {report_uri}"
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
            "prediction": {
                **prediction.__dict__,
                "mean_reference": ref_mean,
                "mean_current": cur_mean,
                "mean_shift": shift,
            },
            "prediction_columns": [c.__dict__ for c in prediction_results],
            "report_uri": report_uri,
            "decision": decision,
            "summary": summary,
        }


class FeatureDriftOperator(DriftCheckOperator):
    """Feature drift of one group of columns (for wide tables: map it over groups with ``expand``).

    :param columns: the feature columns of this group.
    :return: ``DriftResult.as_dict()`` of the group plus ``champion_version``.
    """

    template_fields: Sequence[str] = ("prediction_log", "columns")
    operator_extra_links = ()

    def __init__(self, *, columns: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.columns = columns

    def execute(self, context: Context) -> dict[str, Any]:
        client = self.mlflow_hook.get_conn()
        version = self._champion(client)
        log, days = self._current_window(context["ds"])
        result = self._feature_drift(self._snapshot(client, version), log, list(self.columns))
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
