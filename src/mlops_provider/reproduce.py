"""Audit and replay a registered model version from its lineage.

:func:`audit_record` gathers everything the registry knows about a version (data, code, environment,
params, gates, promotion history). :func:`reproduce` checks what still matches the lineage, retrains
with the recorded config and seed on the recorded snapshot, and compares metrics and predictions with
the registered version. The replay is logged to a separate MLflow experiment ``<model>-reproduce``; it
never registers a version and never moves an alias.

Library code for the ``mlops lineage`` and ``mlops reproduce`` commands: heavy imports stay inside the
functions.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_provider.naming import HOLDOUT_ARTIFACT, REPRODUCE_EXPERIMENT_SUFFIX

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from mlops_provider.config import PipelineConfig
    from mlops_provider.hooks.storage import Storage

#: Largest difference still counted as "the same" (metrics and predicted probabilities).
TOLERANCE = 1e-12
EXPERIMENT_SUFFIX = REPRODUCE_EXPERIMENT_SUFFIX

OK, WARN, NOTE, SKIP = "ok", "warn", "note", "skip"


class ReproduceError(RuntimeError):
    """The version cannot be replayed; the message says what is missing and what to do."""


@dataclass
class Check:
    """One lineage item compared with the world as it is now."""

    name: str
    status: str  # ok | warn (differs, may change the result) | note (informational) | skip (not checked)
    message: str
    recorded: str | None = None
    current: str | None = None

    def line(self) -> str:
        return f"  {self.status.upper() if self.status == WARN else self.status:<5} {self.name:<8} {self.message}"


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
class Inspection:
    """What the lineage says and what still matches it; the input of :func:`replay`."""

    model: str
    version: str
    mlflow_run_id: str
    record: dict[str, Any]
    config: PipelineConfig
    seed: int
    allowed_modules: tuple[str, ...]
    checks: list[Check] = field(default_factory=list)

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status == WARN]


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

    def render_checks(self) -> str:
        return render_checks(self.model, self.version, self.mlflow_run_id, self.checks)

    def render_outcome(self) -> str:
        if self.split_same is None:
            split = " (the original run logged no holdout: predictions compared on this one)"
        else:
            split = ", same split as the original run" if self.split_same else ", split DIFFERS from the original run"
        lines = [
            f"Retrained {self.estimator} with seed {self.seed} on {self.train_rows:,} rows in "
            f"{self.fit_seconds:.1f} s; holdout {self.holdout_rows:,} rows{split}.",
            f"Replay logged as MLflow run {self.reproduce_run_id} in experiment {self.experiment} "
            "(registry and aliases untouched).",
            "",
            f"  {'metric':<20} {'recorded':>18} {'reproduced':>18} {'diff':>10}",
        ]
        for m in self.metrics:
            diff = "n/a" if m.diff is None else ("0" if m.diff == 0 else f"{m.diff:+.3g}")
            lines.append(f"  {m.name:<20} {_num(m.recorded):>18} {_num(m.reproduced):>18} {diff:>10}")
        p = self.predictions
        what = "labels" if p.method == "predict_proba" else "predictions"
        lines += [
            "",
            f"Predictions on the recorded holdout ({p.rows:,} rows): {p.differing:,} {what} differ, "
            f"max |{p.method} diff| {_num(p.max_abs_diff, short=True)}",
            "",
        ]
        if self.identical:
            lines.append(
                f"IDENTICAL: {self.model} v{self.version} reproduces exactly ({len(self.metrics)} metrics, "
                f"{p.rows:,} predictions)."
            )
            if self.warnings:
                lines.append(
                    f"  despite {len(self.warnings)} lineage warning(s) above: the result did not depend on them."
                )
        else:
            lines.append(f"DIFFERENT: {self.model} v{self.version} does not reproduce:")
            lines += [f"  - {d}" for d in self.differences()]
            lines.append("Possible causes:")
            lines += [f"  - {c}" for c in self.likely_causes()]
        return "\n".join(lines)

    def render(self) -> str:
        return self.render_checks() + "\n\n" + self.render_outcome()

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["identical"] = self.identical
        out["differences"] = self.differences()
        for m, row in zip(self.metrics, out["metrics"], strict=True):
            row["diff"] = m.diff
        return out


def render_checks(model: str, version: str, run_id: str, checks: list[Check]) -> str:
    lines = [f"Reproduce {model} v{version} (MLflow run {run_id})", "Lineage checks (before retraining):"]
    lines += [c.line() for c in checks]
    return "\n".join(lines)


def _metric_line(m: MetricComparison) -> str:
    line = f"{m.name}: recorded {_num(m.recorded)}, reproduced {_num(m.reproduced)}"
    return line if m.diff is None or math.isnan(m.diff) else f"{line} (diff {m.diff:+.3g})"


def _num(x: float | None, short: bool = False) -> str:
    if x is None:
        return "absent"
    if x == 0:
        return "0"
    return f"{x:.3g}" if short else f"{x:.12g}"


# ---------------------------------------------------------------------------------------------- helpers


def _version(client: MlflowClient, name: str, version: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(name, str(version))
    except MlflowException:
        pass
    try:
        known = sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'"))
    except MlflowException:
        known = []
    where = client.tracking_uri
    if not known:
        raise ReproduceError(f"registered model {name!r} does not exist at {where} (or has no versions)") from None
    raise ReproduceError(
        f"registered model {name!r} has no version {version} at {where}; versions: {', '.join(map(str, known))}"
    ) from None


def _record(client: MlflowClient, mv: Any) -> dict[str, Any]:
    from mlops_provider import lineage

    return lineage.record(client, mv)


def _allowed_modules() -> tuple[str, ...]:
    from mlops_provider.config.schema import DEFAULT_ESTIMATOR_MODULES

    try:
        from mlops_provider import settings

        extra = settings.get("allowed_estimator_modules") or ""
    except Exception:  # no Airflow configuration here: the defaults only
        extra = ""
    return (*DEFAULT_ESTIMATOR_MODULES, *(m.strip() for m in extra.split(",") if m.strip()))


def _data_roots() -> tuple[str, ...]:
    """``[mlops] data_root`` and ``allowed_data_roots`` (the working directory without an Airflow configuration)."""
    import os

    try:
        from mlops_provider import settings

        return settings.allowed_data_roots()
    except Exception:
        return (os.getcwd(),)


def recorded_config(record: dict[str, Any], allowed: tuple[str, ...]) -> PipelineConfig:
    """The config the version was trained with, validated by today's schema."""
    from pydantic import ValidationError

    from mlops_provider.config import PipelineConfig

    raw = record.get("config")
    if not isinstance(raw, dict):
        raise ReproduceError(
            "this version has no recorded config (tag mlops.config) and its run has no artifact "
            "config/resolved_config.json: it was registered before configs were recorded and cannot be replayed "
            "exactly. Retrain it from the config in the dags repository at "
            f"commit {record.get('git_commit', 'unknown')} instead"
        )
    try:
        return PipelineConfig.model_validate(
            raw, context={"allowed_estimator_modules": allowed, "allowed_data_roots": _data_roots()}
        )
    except ValidationError as exc:
        first = str(exc).splitlines()[:4]
        raise ReproduceError(
            "the recorded config (tag mlops.config) is not valid under the installed airflow-provider-mlops "
            f"{_package_version()}: {' '.join(first)}; replay with the recorded package version "
            f"{record.get('package_version', 'unknown')}"
        ) from None


def _package_version() -> str:
    from mlops_provider import lineage

    return lineage.package_version()


def _short(sha: str | None) -> str:
    return "none" if not sha or sha == "none" else f"{sha[:12]}…"


# ------------------------------------------------------------------------------------------------ checks


def _config_check(record: dict[str, Any], cfg: PipelineConfig) -> Check:
    from mlops_provider.config import config_sha256

    recorded = str(record.get("config_sha256", "none"))
    current = config_sha256(cfg)
    if recorded == current:
        return Check("config", OK, f"sha256 {_short(current)} matches the recorded config", recorded, current)
    return Check(
        "config",
        WARN,
        f"the recorded config validates to sha256 {_short(current)} but lineage records {_short(recorded)} "
        "(the schema changed defaults since, or the tag was edited); the replay trains with the config as "
        "validated now",
        recorded,
        current,
    )


def environment_checks(record: dict[str, Any]) -> list[Check]:
    """One warning per model-shaping package whose version differs from the recorded one."""
    from mlops_provider import lineage

    recorded = record.get("env")
    if not isinstance(recorded, dict):
        return [Check("env", SKIP, "no recorded environment (tag mlops.env); package versions not compared")]
    now = lineage.environment()
    out = []
    for name in ("python", *lineage.MODEL_SHAPING_PACKAGES):
        was, cur = recorded.get(name), now.get(name)
        if was is None:
            continue
        if str(was) != str(cur):
            out.append(
                Check(
                    "env",
                    WARN,
                    f"{name} {was} → {cur} (recorded → current): results may differ; install the recorded "
                    "version to replay exactly",
                    str(was),
                    str(cur),
                )
            )
    if not out:
        listed = ", ".join(f"{k} {v}" for k, v in now.items())
        out.append(Check("env", OK, f"same versions as recorded: {listed}"))
    return out


def _package_check(record: dict[str, Any]) -> Check:
    recorded, current = str(record.get("package_version", "none")), _package_version()
    if recorded == current:
        return Check("package", OK, f"airflow-provider-mlops {current} as recorded", recorded, current)
    return Check(
        "package",
        WARN,
        f"airflow-provider-mlops {recorded} → {current} (recorded → current): training code may differ",
        recorded,
        current,
    )


def _lock_check(record: dict[str, Any], lock_file: Path | None) -> Check:
    from mlops_provider import lineage

    recorded = str(record.get("lock_sha256", "none"))
    if lock_file is None:
        try:
            from mlops_provider import settings

            lock_file = settings.lock_file()
        except Exception:
            lock_file = None
    current = lineage.file_sha256(lock_file)
    if lock_file is None:
        where = "no lock file found (pass --lock)"
    else:
        where = str(lock_file) if lock_file.is_file() else f"{lock_file} does not exist"
    if recorded == current:
        if current == "none":
            return Check("lock", NOTE, f"no lock file then or now ({where}): dependencies are not pinned", recorded)
        return Check("lock", OK, f"{where} sha256 {_short(current)} matches", recorded, current)
    if current == "none":
        return Check("lock", SKIP, f"{where}; recorded sha256 {_short(recorded)}", recorded, current)
    return Check(
        "lock",
        WARN,
        f"{where} sha256 {_short(current)} differs from the recorded {_short(recorded)}: dependencies changed "
        "since training (see the env lines for the ones that shape models)",
        recorded,
        current,
    )


def _git_check(record: dict[str, Any], dags_folder: Path | None) -> Check:
    from mlops_provider import lineage

    recorded = str(record.get("git_commit", "none"))
    dirty = " (the recorded checkout had uncommitted changes: that code is not in git)" if "+dirty" in recorded else ""
    if dags_folder is None:
        return Check("git", SKIP, f"recorded commit {recorded}; pass --dags to compare a checkout{dirty}", recorded)
    current = lineage.git_commit(dags_folder)
    if recorded == current:
        status = NOTE if (dirty or current == "none") else OK
        text = f"{dags_folder} is at the recorded commit {current}{dirty}"
        if current == "none":
            text = f"{dags_folder} is not a git checkout, and was not when the model was trained"
        return Check("git", status, text, recorded, current)
    if recorded == "none":
        text = f"{dags_folder} is at {current}; the model was trained from a dags folder that was not a git checkout"
    else:
        text = (
            f"{dags_folder} is at {current}, the model was trained at {recorded}{dirty}; check out the recorded "
            "commit to see the exact DAG code"
        )
    return Check("git", WARN, text, recorded, current)


def source_check(record: dict[str, Any], cfg: PipelineConfig, storage: Storage) -> Check:
    """Does the data source still hold the recorded training window? A note either way, never a failure."""
    from mlops_provider.datasets import read_window, resolve_source
    from mlops_provider.paths import DataRoots

    recorded_sha = str(record.get("data_sha256", ""))
    source = str(record.get("data_source") or "") or cfg.data.source
    roots = DataRoots(_data_roots())
    try:  # the recorded source is read only inside today's data roots, like a training run's
        source = resolve_source(source, roots)
        window = read_window(cfg, source, storage, roots=roots)
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Check(
            "source",
            NOTE,
            f"{source} cannot be read now ({text}); the replay only needs the snapshot",
            recorded_sha,
            None,
        )
    span = f"window {window.start}..{window.end}, " if window.start else ""
    if window.sha256 == recorded_sha:
        return Check(
            "source",
            OK,
            f"{source} still holds the recorded window ({span}{len(window.frame):,} rows)",
            recorded_sha,
            window.sha256,
        )
    return Check(
        "source",
        NOTE,
        f"source moved on: {source} now holds {span}{len(window.frame):,} rows, content sha256 "
        f"{_short(window.sha256)} (recorded {record.get('data_rows', '?')} rows, {_short(recorded_sha)}). The "
        "replay uses the snapshot; a new training run would learn from the new data",
        recorded_sha,
        window.sha256,
    )


def _snapshot(record: dict[str, Any], storage: Storage, source: Check) -> tuple[pd.DataFrame, Check]:
    from mlops_provider.datasets import DataError, read_snapshot

    uri, sha = record.get("data_snapshot"), record.get("data_sha256")
    if not uri or not sha:
        raise ReproduceError(
            "this version records no training snapshot (tags mlops.data_snapshot / mlops.data_sha256): there is "
            "nothing to replay from"
        )
    try:
        df = read_snapshot(str(uri), str(sha), storage)
    except DataError as exc:
        hint = ""
        if source.status == OK:
            model = record.get("airflow_dag_id") or "<model>_training"
            hint = (
                f"\nThe source still holds exactly that content ({source.message.split(' still')[0]}), so the "
                f"snapshot can be rebuilt: run the validate_data task of {model} (e.g. `airflow tasks test "
                f"{model} validate_data`); snapshots are content-addressed, so it is stored at the same URI."
            )
        raise ReproduceError(f"{exc}\nexpected content sha256: {sha}{hint}") from None
    check = Check(
        "data",
        OK,
        f"snapshot {uri}: {len(df):,} rows, content sha256 {_short(str(sha))} as recorded",
        str(sha),
        str(sha),
    )
    return df, check


# --------------------------------------------------------------------------------------------- inspect


def check_lineage(
    client: MlflowClient,
    name: str,
    version: str | int,
    *,
    lock_file: Path | None = None,
    dags_folder: Path | None = None,
    storage: Storage | None = None,
    allowed_modules: tuple[str, ...] | None = None,
) -> tuple[Inspection, pd.DataFrame]:
    """Read the version's lineage and compare it with now; load and verify its snapshot.

    Nothing is trained here. Environment differences come back as ``warn`` checks, so a caller can show
    them before the (slow) retraining starts.

    :param lock_file: the lock to compare; default the deployment's (``settings.lock_file()``).
    :param dags_folder: a dags checkout whose git commit is compared; not compared when ``None``.
    :raises ReproduceError: the version, its recorded config or its snapshot is missing or unusable.
    """
    from mlops_provider.hooks.storage import Storage

    storage = storage or Storage()
    mv = _version(client, name, str(version))
    record = _record(client, mv)
    run_id = str(record.get("mlflow_run_id") or mv.run_id or "")
    if not run_id:
        raise ReproduceError(f"{name} v{version} names no MLflow run: there are no recorded metrics to compare with")
    allowed = allowed_modules or _allowed_modules()
    cfg = recorded_config(record, allowed)
    seed = cfg.training.seed
    checks = [_config_check(record, cfg)]
    recorded_seed = record.get("seed")
    if recorded_seed is not None and str(recorded_seed) != str(seed):
        seed = int(recorded_seed)
        cfg = cfg.model_copy(update={"training": cfg.training.model_copy(update={"seed": seed})})
        checks.append(
            Check(
                "seed",
                WARN,
                f"tag mlops.seed {recorded_seed} differs from the config's training.seed; replaying with {seed}",
            )
        )
    source = source_check(record, cfg, storage)
    df, data_check = _snapshot(record, storage, source)
    checks = [
        data_check,
        source,
        *checks,
        _package_check(record),
        _lock_check(record, lock_file),
        _git_check(record, dags_folder),
        *environment_checks(record),
    ]
    return Inspection(str(name), str(mv.version), run_id, record, cfg, seed, allowed, checks), df


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


def _experiment(client: MlflowClient, name: str, original_experiment_id: str) -> str:
    """Id of ``<model>-reproduce``, created next to the model's own experiment's artifacts if needed."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = None
    original = client.get_experiment(original_experiment_id)
    loc = (original.artifact_location or "").rstrip("/")
    parent = loc.rpartition("/")[0]
    if parent and not loc.startswith(("mlflow-artifacts:", "dbfs:")):
        location = f"{parent}/{name}"
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except Exception:  # created concurrently
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def _log_replay(client: MlflowClient, inspection: Inspection, report: ReproductionReport, experiment_id: str) -> str:
    from mlflow.entities import Metric, Param, RunTag

    cfg = inspection.config
    run = client.create_run(
        experiment_id,
        run_name=f"{inspection.model}-v{inspection.version}-reproduce",
        tags={
            "mlops.model": inspection.model,
            "mlops.reproduces": f"{inspection.model}/{inspection.version}",
            "mlops.source_run_id": inspection.mlflow_run_id,
            "mlops.data_sha256": str(inspection.record.get("data_sha256", "")),
            "mlops.config_sha256": str(inspection.record.get("config_sha256", "")),
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
        tags=[RunTag("mlops.identical", str(report.identical).lower())],
    )
    report.reproduce_run_id = run_id
    client.log_dict(run_id, report.as_dict(), "reproduction.json")
    client.set_terminated(run_id, status="FINISHED")
    return run_id


def replay(client: MlflowClient, inspection: Inspection, snapshot: pd.DataFrame) -> ReproductionReport:
    """Retrain from the snapshot with the recorded config and seed; compare with the registered version."""
    import mlflow

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

    experiment = f"{inspection.model}{EXPERIMENT_SUFFIX}"
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
    _log_replay(client, inspection, report, _experiment(client, experiment, run.info.experiment_id))
    return report


def reproduce(
    client: MlflowClient,
    name: str,
    version: str | int,
    *,
    lock_file: Path | None = None,
    dags_folder: Path | None = None,
    storage: Storage | None = None,
    allowed_modules: tuple[str, ...] | None = None,
    on_checks: Callable[[Inspection], None] | None = None,
) -> ReproductionReport:
    """Check a registered version's lineage, retrain it from its snapshot and compare the outcome.

    :param on_checks: called with the lineage checks before retraining starts (to show warnings early).
    :raises ReproduceError: the version cannot be replayed (missing snapshot, config or run).
    """
    inspection, snapshot = check_lineage(
        client,
        name,
        version,
        lock_file=lock_file,
        dags_folder=dags_folder,
        storage=storage,
        allowed_modules=allowed_modules,
    )
    if on_checks is not None:
        on_checks(inspection)
    return replay(client, inspection, snapshot)


# ----------------------------------------------------------------------------------------------- audit


def promotions_of(client: MlflowClient, name: str, version: str) -> list[dict[str, Any]]:
    """Promotion events that made ``version`` champion or replaced it, oldest first.

    Each promotion is recorded on the version it promoted, so the version that replaced this one holds
    the event that ended its time as champion: the model's whole history is read.
    """
    from mlops_provider.hooks.registry import ModelRegistry

    events = []
    for item in ModelRegistry(client).history(name):
        to, frm = str(item.get("to")), None if item.get("from") is None else str(item.get("from"))
        if to == str(version):
            events.append({"event": "promoted", **item})
        elif frm == str(version):
            events.append({"event": "replaced", **item})
    return events


def _window(client: MlflowClient, record: dict[str, Any], run_id: str) -> dict[str, Any] | None:
    """The training window: tag ``mlops.data_window``, else the run's ``data_validation.json``."""
    window = record.get("data_window")
    if isinstance(window, dict):
        return window
    if not run_id:
        return None
    import tempfile

    try:
        with tempfile.TemporaryDirectory() as tmp:
            local = client.download_artifacts(run_id, "data_validation.json", tmp)
            snap = json.loads(Path(local).read_text()).get("snapshot", {})
    except Exception:
        return None
    return {"start": snap.get("window_start"), "end": snap.get("window_end")}


def audit_record(client: MlflowClient, name: str, version: str | int) -> dict[str, Any]:
    """Everything the registry holds about one version, grouped for an audit (see ``mlops lineage``)."""
    mv = _version(client, name, str(version))
    rec = _record(client, mv)
    cfg = rec.get("config") if isinstance(rec.get("config"), dict) else {}
    training = cfg.get("training", {}) if isinstance(cfg, dict) else {}
    estimator = training.get("estimator", {}) if isinstance(training, dict) else {}
    run_id = str(rec.get("mlflow_run_id") or mv.run_id or "")
    env = rec.get("env") if isinstance(rec.get("env"), dict) else {}
    aliases = sorted(getattr(mv, "aliases", None) or [])
    trigger = rec.get("trigger")
    if isinstance(trigger, str):
        try:
            trigger = json.loads(trigger)
        except ValueError:
            pass
    created = getattr(mv, "creation_timestamp", None)
    if created:
        from datetime import UTC, datetime

        created = datetime.fromtimestamp(created / 1000, UTC).isoformat(timespec="seconds")
    return {
        "model": str(name),
        "version": str(mv.version),
        "created": created,
        "aliases": aliases,
        "data": {
            "rows": int(rec["data_rows"]) if str(rec.get("data_rows", "")).isdigit() else rec.get("data_rows"),
            "sha256": rec.get("data_sha256"),
            "snapshot": rec.get("data_snapshot"),
            "source": rec.get("data_source"),
            "window": _window(client, rec, run_id),
        },
        "code": {
            "package_version": rec.get("package_version"),
            "git_commit": rec.get("git_commit"),
            "config_sha256": rec.get("config_sha256"),
            "config": cfg or None,
        },
        "environment": {"lock_sha256": rec.get("lock_sha256"), "packages": env},
        "params": {
            "estimator": estimator.get("class"),
            "params": estimator.get("params", {}),
            "seed": int(rec["seed"]) if str(rec.get("seed", "")).isdigit() else rec.get("seed"),
            "test_size": training.get("test_size"),
        },
        "training": {
            "airflow_dag_id": rec.get("airflow_dag_id"),
            "airflow_run_id": rec.get("airflow_run_id"),
            "trigger": trigger,
            "mlflow_run_id": run_id or None,
        },
        "metrics": rec.get("metrics") or {},
        "gates": rec.get("gates") or [],
        "promotions": promotions_of(client, name, str(mv.version)),
    }


def render_audit(record: dict[str, Any]) -> str:
    """``mlops lineage`` as text: one section per question an auditor asks."""
    d, c, e, p, t = (record[k] for k in ("data", "code", "environment", "params", "training"))
    window = d.get("window") or {}
    span = f"{window.get('start')} .. {window.get('end')}" if window.get("start") else "all rows (no time window)"
    aliases = ", ".join(record["aliases"]) or "none"
    rows = f"{d['rows']:,}" if isinstance(d.get("rows"), int) else str(d.get("rows"))
    lines = [
        f"{record['model']} v{record['version']} (registered {record.get('created') or 'unknown'}; aliases: {aliases})",
        "",
        "Data",
        f"  rows          {rows}",
        f"  sha256        {d.get('sha256')}",
        f"  snapshot      {d.get('snapshot')}",
        f"  source        {d.get('source')}",
        f"  window        {span}",
        "Code",
        f"  package       airflow-provider-mlops {c.get('package_version')}",
        f"  git commit    {c.get('git_commit')}",
        f"  config sha256 {c.get('config_sha256')}",
        "Environment",
        f"  lock sha256   {e.get('lock_sha256')}",
    ]
    lines += [f"  {k:<13} {v}" for k, v in (e.get("packages") or {}).items()]
    params = ", ".join(f"{k}={v!r}" for k, v in sorted((p.get("params") or {}).items())) or "defaults"
    lines += [
        "Params",
        f"  estimator     {p.get('estimator')}",
        f"  params        {params}",
        f"  seed          {p.get('seed')}",
        f"  test_size     {p.get('test_size')}",
        "Training",
        f"  DAG run       {t.get('airflow_dag_id')} / {t.get('airflow_run_id')}",
        f"  trigger       {json.dumps(t.get('trigger')) if not isinstance(t.get('trigger'), str) else t['trigger']}",
        f"  MLflow run    {t.get('mlflow_run_id')}",
    ]
    if record.get("metrics"):
        lines.append("  metrics       " + ", ".join(f"{k}={v}" for k, v in sorted(record["metrics"].items())))
    lines.append("Gates")
    for g in record.get("gates") or []:
        verdict = "pass" if g.get("passed") else ("FAIL" if g.get("severity") == "fail" else "warn")
        lines.append(
            f"  {verdict:<5} {g.get('gate'):<28} value {_gate_num(g.get('value'))}  threshold "
            f"{_gate_num(g.get('threshold'))}  ({g.get('severity')})"
        )
    if not record.get("gates"):
        lines.append("  none recorded")
    lines.append("Promotion history")
    for ev in record.get("promotions") or []:
        if ev["event"] == "promoted":
            what = f"promoted to champion (replacing {'v' + str(ev['from']) if ev.get('from') else 'no champion'})"
        else:
            what = f"replaced as champion by v{ev.get('to')}"
        who = f" by {ev['by']}" if ev.get("by") else ""
        lines.append(f"  {ev.get('at')}  {what}{who}; DAG run {ev.get('run_id')}; reason: {ev.get('reason')}")
    if not record.get("promotions"):
        lines.append("  never promoted to champion")
    return "\n".join(lines)


def _gate_num(x: Any) -> str:
    return "n/a" if x is None else (f"{x:.4g}" if isinstance(x, float) else str(x))
