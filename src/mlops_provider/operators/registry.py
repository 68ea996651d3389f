"""Register a gated model version with its lineage, and promote it by alias."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_provider.operators.base import MlopsBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous_champion"
PROMOTION_TAG = "mlops.promotion"


class RegisterModelOperator(MlopsBaseOperator):
    """Create version N of registered model ``<model>`` with every lineage tag, alias ``challenger``.

    Idempotent: the version is looked up by the MLflow run id first, so a retried or cleared task
    returns the version its run already created. Tags are written in the same call that creates the
    version, so no untagged version can be left behind.

    :param training: output of :class:`TrainModelOperator` (templated).
    :param gates: output of :class:`EvaluateGatesOperator` (templated).
    :return: ``{"name", "version", "mlflow_run_id", "created"}``
    """

    template_fields: Sequence[str] = ("training", "gates")
    ui_color = "#d1ecf1"

    def __init__(self, *, training: Mapping[str, Any] | Any, gates: Mapping[str, Any] | Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.training = training
        self.gates = gates

    def lineage_record(self, context: Context) -> dict[str, Any]:
        from mlops_provider import lineage, settings
        from mlops_provider.config import config_sha256

        cfg = self.pipeline
        tr = dict(self.training)
        run = self.mlflow_hook.get_conn().get_run(tr["mlflow_run_id"])
        run_tags = run.data.tags
        return {
            "data_sha256": tr["data_sha256"],
            "data_rows": str(tr["rows"]),
            "data_snapshot": tr["snapshot_uri"],
            "data_source": run_tags.get("mlops.data_source", cfg.data.source),
            "data_window": run_tags.get("mlops.data_window", "none"),
            "config_sha256": config_sha256(cfg),
            "config": cfg.model_dump(mode="json", by_alias=True),
            "package_version": lineage.package_version(),
            "git_commit": lineage.git_commit(settings.dags_folder()),
            "lock_sha256": lineage.file_sha256(settings.lock_file()),
            "env": lineage.environment(),
            "seed": str(cfg.training.seed),
            "airflow_dag_id": context["dag"].dag_id,
            "airflow_run_id": context["run_id"],
            "trigger": run_tags.get("mlops.trigger") or json.dumps(self.trigger_record(context)),
            "gates": [
                {k: r[k] for k in ("gate", "value", "threshold", "passed", "severity")}
                for r in dict(self.gates)["results"]
            ],
            "mlflow_run_id": tr["mlflow_run_id"],
            "metrics": {k: round(v, 6) for k, v in tr["metrics"].items() if v == v},
        }

    def execute(self, context: Context) -> dict[str, Any]:
        import mlflow

        from mlops_provider import lineage

        tr = dict(self.training)
        if not dict(self.gates).get("passed"):
            raise RuntimeError("refusing to register: the gates output does not say passed")
        run_id = tr["mlflow_run_id"]
        client = self.mlflow_hook.get_conn()
        existing = client.search_model_versions(f"name = '{self.model_name}' and run_id = '{run_id}'")
        if existing:
            version = str(max(int(v.version) for v in existing))
            created = False
            self.log.info("Run %s already registered %s v%s: reusing it", run_id, self.model_name, version)
        else:
            tags = lineage.tags(self.lineage_record(context))
            mv = mlflow.register_model(tr["model_uri"], self.model_name, tags=tags)
            version, created = str(mv.version), True
            self.log.info("Registered %s v%s from run %s", self.model_name, version, run_id)
        client.set_registered_model_alias(self.model_name, CHALLENGER, version)
        return {"name": self.model_name, "version": version, "mlflow_run_id": run_id, "created": created}


class PromoteModelOperator(MlopsBaseOperator):
    """Make a registered version the champion; the one it replaces becomes ``previous_champion``.

    Appends a promotion record (from, to, when, why, run id) to the version's ``mlops.promotion`` tag.
    Promoting the version that already is champion changes nothing.

    :param registration: output of :class:`RegisterModelOperator` (templated).
    :param reason: why, recorded in the promotion history (templated).
    :return: ``{"name", "champion", "previous_champion", "promoted"}``
    """

    template_fields: Sequence[str] = ("registration", "reason")
    ui_color = "#c3e6cb"

    def __init__(
        self, *, registration: Mapping[str, Any] | Any, reason: str = "passed all gates", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.registration = registration
        self.reason = reason

    def execute(self, context: Context) -> dict[str, Any]:
        reg = dict(self.registration)
        return promote(
            self.mlflow_hook.get_conn(),
            self.model_name,
            str(reg["version"]),
            reason=self.reason,
            run_id=context["run_id"],
            log=self.log,
        )


def current_alias(client: Any, name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def promotion_history(client: Any, name: str) -> list[dict[str, Any]]:
    """Every promotion of ``name``, oldest first, from the versions' ``mlops.promotion`` tags."""
    history: list[dict[str, Any]] = []
    for mv in client.search_model_versions(f"name = '{name}'"):
        text = (mv.tags or {}).get(PROMOTION_TAG)
        if text:
            history.extend(json.loads(text))
    return sorted(history, key=lambda h: h["at"])


def promote(client: Any, name: str, version: str, *, reason: str, run_id: str | None, log: Any) -> dict[str, Any]:
    """Move ``champion`` to ``version`` (``previous_champion`` to the old one) and record why."""
    old = current_alias(client, name, CHAMPION)
    if old == version:
        log.info("%s v%s is already champion; nothing to do", name, version)
        return {
            "name": name,
            "champion": version,
            "previous_champion": current_alias(client, name, PREVIOUS_CHAMPION),
            "promoted": False,
        }
    if old is not None:
        client.set_registered_model_alias(name, PREVIOUS_CHAMPION, old)
    client.set_registered_model_alias(name, CHAMPION, version)
    mv = client.get_model_version(name, version)
    history = json.loads((mv.tags or {}).get(PROMOTION_TAG, "[]"))
    history.append(
        {
            "from": old,
            "to": version,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "reason": reason,
            "run_id": run_id,
        }
    )
    client.set_model_version_tag(name, version, PROMOTION_TAG, json.dumps(history))
    if current_alias(client, name, CHALLENGER) == version:
        client.delete_registered_model_alias(name, CHALLENGER)
    log.info(
        "Promoted %s v%s to champion (previous champion: %s) because %s",
        name,
        version,
        f"v{old}" if old else "none",
        reason,
    )
    return {"name": name, "champion": version, "previous_champion": old, "promoted": True}
