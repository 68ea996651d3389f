"""Wait for a canary or shadow trial's observation window (deferred: no worker slot), then judge it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from mlops_provider.naming import TRIAL_ARTIFACT
from mlops_provider.operators.base import MlopsBaseOperator

if TYPE_CHECKING:
    import pandas as pd
    from airflow.sdk import Context


class TrialEnded(AirflowFailException):
    """The version is no longer on trial (its alias moved): there is nothing left to observe."""


class TrialWindowSensor(MlopsBaseOperator):
    """Defer until the trial has its window (``deploy.canary.min_rows`` rows in ``min_runs`` scoring runs, or
    ``max_wait_hours`` passed), then evaluate the trial gates from the prediction log.

    The wait runs in the triggerer (:class:`~mlops_provider.triggers.trial.TrialWindowTrigger`), which reads only
    the scoring runs' small serving summaries. Each gate's value, threshold and verdict is written to the task
    log and to the version's MLflow run (metrics ``trial.<gate>``, artifact ``trial.json``).

    :param trial: output of :class:`~mlops_provider.operators.deploy.StartTrialOperator` (templated).
    :return: ``{"version", "strategy", "champion", "passed", "gates", "window", "summary"}``; the input as it is
        when the version was promoted without a trial.
    """

    template_fields: Sequence[str] = ("trial",)
    ui_color = "#ffeeba"

    def __init__(self, *, trial: Mapping[str, Any] | Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.trial = trial

    def _root(self) -> str:
        from mlops_provider.datasets import resolve_source
        from mlops_provider.paths import DataRoots

        return resolve_source(self.pipeline.predictions_root, DataRoots.from_settings(), "scoring.output")

    def execute(self, context: Context) -> dict[str, Any]:
        from mlops_provider.triggers.trial import TrialWindowTrigger

        trial = dict(self.trial or {})
        if trial.get("promoted"):
            self.log.info("v%s was promoted without a trial: nothing to observe", trial.get("version"))
            return trial
        version, strategy = str(trial["version"]), str(trial["strategy"])
        on_trial = self.mlflow_hook.registry.trial(self.model_name, strategy)
        if on_trial != version:
            raise TrialEnded(
                f"{self.model_name} v{version} is no longer on {strategy} trial (the alias points at "
                f"{'v' + on_trial if on_trial else 'nothing'}): nothing to observe. Its mlops.trial tag says how "
                "the trial ended"
            )
        cfg = self.pipeline.deploy.canary
        started = datetime.fromisoformat(trial["started_at"])
        deadline = started + timedelta(hours=cfg.max_wait_hours)
        self.log.info(
            "Waiting (deferred, no worker slot) for %s rows in %s scoring run(s) of v%s's %s trial, until %s",
            f"{cfg.min_rows:,}",
            cfg.min_runs,
            version,
            strategy,
            deadline.isoformat(timespec="minutes"),
        )
        self.defer(
            trigger=TrialWindowTrigger(
                prediction_root=self._root(),
                version=version,
                since=trial["started_at"],
                min_rows=cfg.min_rows,
                min_runs=cfg.min_runs,
                deadline=deadline.isoformat(),
                poll_seconds=cfg.poll_seconds,
                aws_conn_id=self.aws_conn_id,
            ),
            method_name="execute_complete",
            # a backstop only: the trigger fires at the deadline itself
            timeout=max(deadline - datetime.now(UTC), timedelta(0)) + timedelta(hours=1),
        )
        raise AssertionError("unreachable: defer() raises")  # pragma: no cover

    def read_window(self, dates: list[str], strategy: str) -> pd.DataFrame:
        """The prediction log of the trial's dates (shadow: the shadow rows too), with a ``scoring_date`` column."""
        import io

        import pandas as pd

        from mlops_provider.predictions import prediction_log_uri, shadow_log_uri

        root = self._root()
        frames = []
        for day in dates:
            uris = [prediction_log_uri(root, day)] + ([shadow_log_uri(root, day)] if strategy == "shadow" else [])
            for uri in uris:
                if self.storage.exists(uri):
                    frames.append(pd.read_parquet(io.BytesIO(self.storage.read_bytes(uri))).assign(scoring_date=day))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def read_baseline(self, dates: list[str]) -> dict[str, float | None]:
        """Per date, the champion's ms per row on the trial's rows, from the date's serving summary (absent in
        summaries written before scoring recorded it)."""
        import json

        from mlops_provider.predictions import serving_uri

        root = self._root()
        out: dict[str, float | None] = {}
        for day in dates:
            uri = serving_uri(root, day)
            if self.storage.exists(uri):
                trial = json.loads(self.storage.read_bytes(uri)).get("trial") or {}
                out[day] = trial.get("champion_ms_per_row")
        return out

    def read_labels(self, champion: str | None) -> tuple[pd.DataFrame | None, Any]:
        """The labels of ``deploy.canary.gates.label_metric`` and the champion's classes, when that gate is set.
        Labels that cannot be read make the gate "not available" (its ``if_unavailable`` decides), with a warning."""
        gate = self.pipeline.deploy.canary.gates.label_metric
        if gate is None or champion is None:
            return None, None
        import mlflow

        from mlops_provider.datasets import read_table, resolve_source
        from mlops_provider.modeling import model_labels
        from mlops_provider.paths import DataRoots

        field = "deploy.canary.gates.label_metric.labels_source"
        self.mlflow_hook.get_conn()  # points mlflow at the connection's store (a resumed task starts afresh)
        truth = model_labels(mlflow.sklearn.load_model(f"models:/{self.model_name}/{champion}"), self.pipeline.task)
        roots = DataRoots.from_settings()
        try:
            source = resolve_source(gate.labels_source, roots, field)
            labels, _ = read_table(source, gate.format, self.storage, roots=roots, field=field, what="trial labels")
        except Exception as exc:  # no labels yet is a normal state of a young window
            self.log.warning("No labels for the trial's label_metric gate from %s: %s", gate.labels_source, exc)
            return None, truth
        return labels, truth

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        from mlops_provider import trials

        trial = dict(self.trial or {})
        version, strategy = str(trial["version"]), str(trial["strategy"])
        cfg = self.pipeline.deploy.canary
        window = {k: event.get(k) for k in ("rows", "errors", "runs", "dates")}
        waited = (datetime.now(UTC) - datetime.fromisoformat(trial["started_at"])).total_seconds() / 3600
        gates = [trials.window_gate(window, cfg.min_rows, cfg.min_runs, waited)]
        if event.get("status") == "ready":
            log = self.read_window(list(window["dates"] or []), strategy)
            labels, truth = self.read_labels(trial.get("champion"))
            baseline = self.read_baseline(list(window["dates"] or []))
            gates += trials.evaluate(log, self.pipeline, strategy, labels, truth, baseline)
        else:
            self.log.warning("The window closed after %g h without enough traffic", cfg.max_wait_hours)
        for gate in gates:
            (self.log.info if gate.passed else self.log.warning)("Trial gate %s", gate.line())
        passed = all(g.passed for g in gates)
        summary = trials.summary_line(strategy, version, gates)
        result = {
            "version": version,
            "strategy": strategy,
            "champion": trial.get("champion"),
            "started_at": trial["started_at"],
            "trial_id": trial.get("trial_id"),
            "passed": passed,
            "gates": [g.as_dict() for g in gates],
            "window": window,
            "summary": summary,
        }
        self._log_to_mlflow(version, result)
        self.log.info("%s", summary)
        return result

    def _log_to_mlflow(self, version: str, result: dict[str, Any]) -> None:
        """Trial gates as metrics ``trial.<gate>`` and the whole result as ``trial.json`` of the version's run."""
        client = self.mlflow_hook.get_conn()
        run_id = str(client.get_model_version(self.model_name, version).run_id)
        for gate in result["gates"]:
            if gate["value"] is not None:
                client.log_metric(run_id, f"trial.{gate['gate']}", float(gate["value"]))
        client.log_text(run_id, json.dumps(result, indent=2, sort_keys=True), TRIAL_ARTIFACT)
