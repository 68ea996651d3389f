"""Everything the registry holds about one model version, grouped for an audit (``mlops lineage``).

Data, code, environment, params, training run, gates and promotion history. The promotion history is
read through :class:`mlops_provider.hooks.registry.ModelRegistry`; heavy imports stay inside the functions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_provider.lineage.tagging import record as lineage_record
from mlops_provider.naming import APPROVAL_TAG, TRIAL_TAG, VALIDATION_ARTIFACT

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


class LineageError(RuntimeError):
    """The version or its lineage cannot be used; the message says what is missing and what to do."""


def model_version(client: MlflowClient, name: str, version: str) -> Any:
    """The registered version, or :class:`LineageError` naming the versions that do exist."""
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
        raise LineageError(f"registered model {name!r} does not exist at {where} (or has no versions)") from None
    raise LineageError(
        f"registered model {name!r} has no version {version} at {where}; versions: {', '.join(map(str, known))}"
    ) from None


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
            local = client.download_artifacts(run_id, VALIDATION_ARTIFACT, tmp)
            snap = json.loads(Path(local).read_text()).get("snapshot", {})
    except Exception:
        return None
    return {"start": snap.get("window_start"), "end": snap.get("window_end")}


def audit_record(client: MlflowClient, name: str, version: str | int) -> dict[str, Any]:
    """Everything the registry holds about one version, grouped for an audit (see ``mlops lineage``)."""
    mv = model_version(client, name, str(version))
    rec = lineage_record(client, mv)
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
        "approval": _json_tag(mv, APPROVAL_TAG),
        "trials": _json_tag(mv, TRIAL_TAG) or [],
        "promotions": promotions_of(client, name, str(mv.version)),
    }


def _json_tag(mv: Any, key: str) -> Any:
    """A JSON tag of the version (sign-off decision, trial records), None when absent or unreadable."""
    from mlops_provider.hooks.registry_overview import parsed_tag

    return parsed_tag((getattr(mv, "tags", None) or {}).get(key))
