"""Replay a registered model version from its lineage and compare the outcome (``mlops reproduce``).

:func:`replay` takes what :func:`~mlops_provider.lineage.checks.check_lineage` found (the recorded config and
seed, the verified snapshot), retrains, and compares holdout metrics and predictions with the registered
version. The replay is logged to a separate MLflow experiment ``<model>-reproduce``; it never registers a
version and never moves an alias. Heavy imports stay inside the functions.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from mlops_provider.lineage.checks import WARN, Check, Inspection
from mlops_provider.naming import CONFIG_SHA256_TAG, HOLDOUT_ARTIFACT, REPRODUCE_EXPERIMENT_SUFFIX, TAG_PREFIX

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.tracking import MlflowClient

#: Largest difference still counted as "the same" (metrics and predicted probabilities).
TOLERANCE = 1e-12
#: The replay run's artifact with the whole report (``ReproductionReport.as_dict()``).
REPORT_ARTIFACT = "reproduction.json"


@dataclass
class MetricComparison:
    name: str
    recorded: float | None
    reproduced: float | None

    @property
    def diff(self) -> float | None:
        if self.recorded is None or self.reproduced is None:
            return None
        if math.isnan(self.recorded) and math.isnan(self.reproduced):
            return 0.0
        return self.reproduced - self.recorded

    @property
    def same(self) -> bool:
        d = self.diff
        return d is not None and not math.isnan(d) and abs(d) <= TOLERANCE


@dataclass
class PredictionComparison:
    rows: int
    method: str  # predict_proba (classifiers) or predict
    max_abs_diff: float
    differing: int  # rows whose predicted label (classification) or value (regression) differs

    @property
    def same(self) -> bool:
        return self.differing == 0 and self.max_abs_diff <= TOLERANCE


@dataclass
class ReproductionReport:
    model: str
    version: str
    mlflow_run_id: str
    checks: list[Check]
    estimator: str
    primary_metric: str
    seed: int
    train_rows: int
    holdout_rows: int
    fit_seconds: float
    split_same: bool | None  # None when the original run has no holdout artifact
    metrics: list[MetricComparison]
    predictions: PredictionComparison
    experiment: str
    reproduce_run_id: str | None = None

    @property
    def identical(self) -> bool:
        return all(m.same for m in self.metrics) and self.predictions.same

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status == WARN]

    def differences(self) -> list[str]:
        """One line per thing that came out different, with the numbers."""
        out = []
        differ = [m for m in self.metrics if not m.same]
        if 0 < len(differ) <= 3:
            out += [_metric_line(m) for m in differ]
        elif differ:
            # the table above has every number; name the primary metric and the largest change
            out.append(f"{len(differ)} of {len(self.metrics)} metrics differ")
            primary = next((m for m in differ if m.name == self.primary_metric), None)
            if primary is not None:
                out.append(f"{_metric_line(primary)} (primary metric)")
            sized = [m for m in differ if m.diff is not None and not math.isnan(m.diff)]
            largest = max(sized, key=lambda m: abs(m.diff or 0.0), default=None)
            if largest is not None and largest is not primary:
                out.append(f"{_metric_line(largest)} (largest change)")
        p = self.predictions
        if not p.same:
            what = "predicted labels" if p.method == "predict_proba" else "predictions"
            out.append(f"{p.differing:,} of {p.rows:,} {what} differ; max |{p.method} diff| {p.max_abs_diff:.3g}")
        if self.split_same is False:
            out.append("the train/holdout split differs from the original run's recorded holdout")
        return out

    def likely_causes(self) -> list[str]:
        causes = [f"{c.name}: {c.message}" for c in self.warnings]
        if self.split_same is False:
            causes.append(
                "the split put different rows in the holdout: train_test_split changed behaviour (scikit-learn "
                "version) or the snapshot's row order differs"
            )
        if not causes:
            causes.append(
                "same data, config and environment but different numbers: a step of the pipeline is not "
                "deterministic with a fixed random_state (multi-threaded fitting, n_jobs, or an estimator "
                "parameter that draws randomness without random_state); fix it before trusting replays"
            )
        return causes

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["identical"] = self.identical
        out["differences"] = self.differences()
        for m, row in zip(self.metrics, out["metrics"], strict=True):
            row["diff"] = m.diff
        return out


def _metric_line(m: MetricComparison) -> str:
    line = f"{m.name}: recorded {format_number(m.recorded)}, reproduced {format_number(m.reproduced)}"
    return line if m.diff is None or math.isnan(m.diff) else f"{line} (diff {m.diff:+.3g})"


def format_number(x: float | None, short: bool = False) -> str:
    """A recorded or reproduced number as the report prints it (``absent`` when there is none)."""
    if x is None:
        return "absent"
    if x == 0:
        return "0"
    return f"{x:.3g}" if short else f"{x:.12g}"


# ---------------------------------------------------------------------------------------------- replay


def _use_client_uris(client: MlflowClient) -> None:
    """Point MLflow's fluent API (``models:/`` URIs) at the client's stores, as ``MlflowHook.get_conn`` does."""
    import mlflow

    mlflow.set_tracking_uri(client.tracking_uri)
    mlflow.set_registry_uri(getattr(client, "_registry_uri", None) or client.tracking_uri)


def _recorded_holdout(client: MlflowClient, run_id: str) -> pd.DataFrame | None:
    import tempfile

    import pandas as pd
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = client.download_artifacts(run_id, HOLDOUT_ARTIFACT, tmp)
        except (MlflowException, OSError):
            return None
        return pd.read_parquet(local)


def compare_predictions(registered: Any, retrained: Any, X: pd.DataFrame, task: str) -> PredictionComparison:
    import numpy as np

    pred_a, pred_b = np.asarray(registered.predict(X)), np.asarray(retrained.predict(X))
    if task == "classification" and hasattr(registered, "predict_proba") and hasattr(retrained, "predict_proba"):
        a = np.asarray(registered.predict_proba(X), dtype="float64")
        b = np.asarray(retrained.predict_proba(X), dtype="float64")
        method = "predict_proba"
        differing = int((pred_a != pred_b).sum())
    elif task == "classification":  # no probabilities; labels of any type (text, bool, int) compared as labels
        differing = int((pred_a != pred_b).sum())
        return PredictionComparison(len(X), "predict", 0.0 if differing == 0 else 1.0, differing)
    else:
        a, b = pred_a.astype("float64"), pred_b.astype("float64")
        method = "predict"
        differing = int((np.abs(a - b) > TOLERANCE).sum())
    if a.shape != b.shape:
        return PredictionComparison(len(X), method, float("inf"), len(X))
    max_abs = float(np.max(np.abs(a - b))) if a.size else 0.0
    return PredictionComparison(len(X), method, max_abs, differing)


def _log_replay(client: MlflowClient, inspection: Inspection, report: ReproductionReport, experiment_id: str) -> str:
    from mlflow.entities import Metric, Param, RunTag

    cfg = inspection.config
    run = client.create_run(
        experiment_id,
        run_name=f"{inspection.model}-v{inspection.version}-reproduce",
        tags={
            TAG_PREFIX + "model": inspection.model,
            TAG_PREFIX + "reproduces": f"{inspection.model}/{inspection.version}",
            TAG_PREFIX + "source_run_id": inspection.mlflow_run_id,
            TAG_PREFIX + "data_sha256": str(inspection.record.get("data_sha256", "")),
            CONFIG_SHA256_TAG: str(inspection.record.get("config_sha256", "")),
        },
    )
    run_id = str(run.info.run_id)
    now = int(time.time() * 1000)
    params = {
        "estimator": cfg.training.estimator.class_,
        **{f"estimator.{k}": v for k, v in sorted(cfg.training.estimator.params.items())},
        "seed": inspection.seed,
        "test_size": cfg.training.test_size,
        "reproduces_version": inspection.version,
    }
    metrics = [
        Metric(f"holdout_{m.name}", m.reproduced, now, 0)
        for m in report.metrics
        if m.reproduced is not None and not math.isnan(m.reproduced)
    ]
    metrics += [
        Metric(f"diff_holdout_{m.name}", m.diff, now, 0)
        for m in report.metrics
        if m.diff is not None and not math.isnan(m.diff)
    ]
    p = report.predictions
    if math.isfinite(p.max_abs_diff):
        metrics.append(Metric(f"prediction_max_abs_diff_{p.method}", p.max_abs_diff, now, 0))
    metrics += [
        Metric("predictions_differing", float(p.differing), now, 0),
        Metric("fit_seconds", report.fit_seconds, now, 0),
    ]
    client.log_batch(
        run_id,
        metrics=metrics,
        params=[Param(k, str(v)[:6000]) for k, v in params.items()],
        tags=[RunTag(TAG_PREFIX + "identical", str(report.identical).lower())],
    )
    report.reproduce_run_id = run_id
    client.log_dict(run_id, report.as_dict(), REPORT_ARTIFACT)
    client.set_terminated(run_id, status="FINISHED")
    return run_id


def _artifact_root(client: MlflowClient, run: Any) -> str | None:
    """Where ``<model>-reproduce`` keeps artifacts: next to the model's own experiment's (the store decides
    for a tracking server's proxied ``mlflow-artifacts:`` and for ``dbfs:`` locations)."""
    original = client.get_experiment(run.info.experiment_id)
    loc = (original.artifact_location or "").rstrip("/")
    parent = loc.rpartition("/")[0]
    if parent and not loc.startswith(("mlflow-artifacts:", "dbfs:")):
        return parent
    return None


def replay(client: MlflowClient, inspection: Inspection, snapshot: pd.DataFrame) -> ReproductionReport:
    """Retrain from the snapshot with the recorded config and seed; compare with the registered version."""
    import mlflow

    from mlops_provider.hooks.mlflow import ensure_experiment
    from mlops_provider.modeling import attach_labels, build_pipeline, evaluate, features_frame, resolve_labels, split

    cfg = inspection.config
    train_df, holdout = split(snapshot, cfg)
    pipe = build_pipeline(cfg, inspection.allowed_modules)
    started = time.perf_counter()
    pipe.fit(features_frame(train_df, cfg), train_df[cfg.data.target])
    fit_seconds = time.perf_counter() - started
    attach_labels(pipe, resolve_labels(snapshot[cfg.data.target], cfg))  # as training does: same positive class
    reproduced = evaluate(pipe, holdout, cfg)

    run = client.get_run(inspection.mlflow_run_id)
    logged = run.data.metrics
    # NaN metrics are not logged by training (e.g. roc_auc on a one-class holdout): absent on both sides is equal
    metrics = [
        MetricComparison(name, logged.get(f"holdout_{name}"), value)
        for name, value in sorted(reproduced.items())
        if f"holdout_{name}" in logged or value == value
    ]

    recorded_holdout = _recorded_holdout(client, inspection.mlflow_run_id)
    split_same = None if recorded_holdout is None else bool(recorded_holdout.equals(holdout))
    compare_on = holdout if recorded_holdout is None else recorded_holdout

    _use_client_uris(client)
    registered = mlflow.sklearn.load_model(f"models:/{inspection.model}/{inspection.version}")
    predictions = compare_predictions(registered, pipe, features_frame(compare_on, cfg), cfg.task)

    experiment = f"{inspection.model}{REPRODUCE_EXPERIMENT_SUFFIX}"
    report = ReproductionReport(
        model=inspection.model,
        version=inspection.version,
        mlflow_run_id=inspection.mlflow_run_id,
        checks=list(inspection.checks),
        estimator=cfg.training.estimator.class_,
        primary_metric=cfg.primary_metric,
        seed=inspection.seed,
        train_rows=len(train_df),
        holdout_rows=len(holdout),
        fit_seconds=fit_seconds,
        split_same=split_same,
        metrics=metrics,
        predictions=predictions,
        experiment=experiment,
    )
    _log_replay(client, inspection, report, ensure_experiment(client, experiment, _artifact_root(client, run)))
    return report
