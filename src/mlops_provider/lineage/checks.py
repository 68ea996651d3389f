"""The lineage of a version compared with the world as it is now, before a replay retrains it.

:func:`check_lineage` reads the version's lineage, validates its recorded config with today's schema, loads
and verifies its training snapshot, and compares data source, config, package, lock file, git commit and
environment with the recorded ones. Nothing is trained here: the checks come back as :class:`Check` items
(``warn`` when a difference may change the result), so a caller can show them before the slow replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_provider.lineage import tagging
from mlops_provider.lineage.audit import LineageError, model_version

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from mlops_provider.config import PipelineConfig
    from mlops_provider.hooks.storage import Storage

OK, WARN, NOTE, SKIP = "ok", "warn", "note", "skip"


@dataclass
class Check:
    """One lineage item compared with the world as it is now."""

    name: str
    status: str  # ok | warn (differs, may change the result) | note (informational) | skip (not checked)
    message: str
    recorded: str | None = None
    current: str | None = None


@dataclass
class Inspection:
    """What the lineage says and what still matches it; the input of :func:`~mlops_provider.lineage.replay.replay`."""

    model: str
    version: str
    mlflow_run_id: str
    record: dict[str, Any]
    config: PipelineConfig
    seed: int
    allowed_modules: tuple[str, ...]
    checks: list[Check] = field(default_factory=list)


def _estimator_modules() -> tuple[str, ...]:
    """``[mlops] allowed_estimator_modules`` (scikit-learn only without an Airflow configuration)."""
    try:
        from mlops_provider import settings

        return settings.allowed_estimator_modules()
    except Exception:  # no Airflow configuration where the replay runs: scikit-learn only
        from mlops_provider.config.schema import DEFAULT_ESTIMATOR_MODULES

        return DEFAULT_ESTIMATOR_MODULES


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
        raise LineageError(
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
        raise LineageError(
            "the recorded config (tag mlops.config) is not valid under the installed airflow-provider-mlops "
            f"{tagging.package_version()}: {' '.join(first)}; replay with the recorded package version "
            f"{record.get('package_version', 'unknown')}"
        ) from None


def _short(sha: str | None) -> str:
    return "none" if not sha or sha == "none" else f"{sha[:12]}…"


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
    recorded = record.get("env")
    if not isinstance(recorded, dict):
        return [Check("env", SKIP, "no recorded environment (tag mlops.env); package versions not compared")]
    now = tagging.environment()
    out = []
    for name in ("python", *tagging.MODEL_SHAPING_PACKAGES):
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
    recorded, current = str(record.get("package_version", "none")), tagging.package_version()
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
    recorded = str(record.get("lock_sha256", "none"))
    if lock_file is None:
        try:
            from mlops_provider import settings

            lock_file = settings.lock_file()
        except Exception:
            lock_file = None
    current = tagging.file_sha256(lock_file)
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
    recorded = str(record.get("git_commit", "none"))
    dirty = " (the recorded checkout had uncommitted changes: that code is not in git)" if "+dirty" in recorded else ""
    if dags_folder is None:
        return Check("git", SKIP, f"recorded commit {recorded}; pass --dags to compare a checkout{dirty}", recorded)
    current = tagging.git_commit(dags_folder)
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
        raise LineageError(
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
        raise LineageError(f"{exc}\nexpected content sha256: {sha}{hint}") from None
    check = Check(
        "data",
        OK,
        f"snapshot {uri}: {len(df):,} rows, content sha256 {_short(str(sha))} as recorded",
        str(sha),
        str(sha),
    )
    return df, check


def check_lineage(
    client: MlflowClient,
    name: str,
    version: str | int,
    *,
    lock_file: Path | None = None,
    dags_folder: Path | None = None,
    storage: Storage | None = None,
) -> tuple[Inspection, pd.DataFrame]:
    """Read the version's lineage and compare it with now; load and verify its snapshot.

    Nothing is trained here. Environment differences come back as ``warn`` checks, so a caller can show
    them before the (slow) retraining starts.

    :param lock_file: the lock to compare; default the deployment's (``settings.lock_file()``).
    :param dags_folder: a dags checkout whose git commit is compared; not compared when ``None``.
    :param storage: where the snapshot and the data source are read; default the deployment's ``Storage()``.
    :raises LineageError: the version, its recorded config or its snapshot is missing or unusable.
    """
    from mlops_provider.hooks.storage import Storage

    storage = storage or Storage()
    mv = model_version(client, name, str(version))
    record = tagging.record(client, mv)
    run_id = str(record.get("mlflow_run_id") or mv.run_id or "")
    if not run_id:
        raise LineageError(f"{name} v{version} names no MLflow run: there are no recorded metrics to compare with")
    allowed = _estimator_modules()
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
