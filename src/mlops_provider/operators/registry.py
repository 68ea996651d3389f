"""Register a gated model version with its lineage, promote it by alias, and roll the champion back."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlops_provider.naming import (
    CONFIG_ARTIFACT,
    CONFIG_TAG,
    GATES_CHAMPION_TAG,
    GATES_TAG,
    MAX_TAG_CHARS,
    METRICS_TAG,
    TAG_PREFIX,
)
from mlops_provider.operators.base import MlopsBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class RegisterModelOperator(MlopsBaseOperator):
    """Create version N of registered model ``<model>`` with every lineage tag, alias ``challenger``.

    Idempotent: the version is looked up by the MLflow run id first, so a retried or cleared task
    returns the version its run already created. Tags are written in the same call that creates the
    version, so no untagged version can be left behind. Among them: the gate results and the champion
    version the champion gate compared against, which promotion re-checks. The resolved config is logged
    as the run's artifact ``config/resolved_config.json`` and also kept as the ``mlops.config`` tag when it
    fits in one (MLflow's limit is 100,000 characters); its sha256 is always a tag.

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
        from mlops_provider import lineage

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
            **lineage.code_identity(cfg),
            "config": cfg.model_dump(mode="json", by_alias=True),
            "env": lineage.environment(),
            "seed": str(cfg.training.seed),
            "airflow_dag_id": context["dag"].dag_id,
            "airflow_run_id": context["run_id"],
            "trigger": run_tags.get("mlops.trigger") or json.dumps(self.trigger_record(context)),
            GATES_TAG.removeprefix(TAG_PREFIX): [
                {k: r[k] for k in ("gate", "value", "threshold", "passed", "severity")}
                for r in dict(self.gates)["results"]
            ],
            GATES_CHAMPION_TAG.removeprefix(TAG_PREFIX): str(dict(self.gates).get("champion_version") or "none"),
            "mlflow_run_id": tr["mlflow_run_id"],
            "metrics": {k: round(v, 6) for k, v in tr["metrics"].items() if v == v},
        }

    def execute(self, context: Context) -> dict[str, Any]:
        import json as _json

        from airflow.sdk.exceptions import AirflowFailException

        from mlops_provider import lineage

        gates = dict(self.gates or {})
        if not self.training or not gates:
            raise AirflowFailException(
                f"refusing to register {self.model_name}: this run has no result from "
                f"{'train' if not self.training else 'evaluate_gates'}, so nothing shows the model passed its "
                "gates. Clear the DAG run from that task (Airflow UI: Clear, downstream) instead of running "
                "register on its own"
            )
        if not gates.get("passed"):
            raise AirflowFailException("refusing to register: the gates output does not say passed")
        tr = dict(self.training)
        run_id = tr["mlflow_run_id"]
        client = self.mlflow_hook.get_conn()
        record = self.lineage_record(context)
        config_json = _json.dumps(record["config"], sort_keys=True, indent=1)
        client.log_text(run_id, config_json, CONFIG_ARTIFACT)  # idempotent: a retry overwrites the same file
        tags = lineage.tags(record)
        if len(tags[CONFIG_TAG]) > MAX_TAG_CHARS:
            self.log.warning(
                "Resolved config is %s characters, over MLflow's %s-character tag limit: kept as artifact %s of "
                "run %s (tag mlops.config_sha256 identifies it)",
                f"{len(tags[CONFIG_TAG]):,}",
                f"{MAX_TAG_CHARS:,}",
                CONFIG_ARTIFACT,
                run_id,
            )
            del tags[CONFIG_TAG]
        version, created = self.mlflow_hook.registry.register(self.model_name, tr["model_uri"], run_id, tags)
        if created:
            self.log.info("Registered %s v%s from run %s", self.model_name, version, run_id)
        else:
            self.log.info("Run %s already registered %s v%s: reusing it", run_id, self.model_name, version)
        self.mlflow_hook.registry.set_challenger(self.model_name, version)
        return {"name": self.model_name, "version": version, "mlflow_run_id": run_id, "created": created}


class PromoteModelOperator(MlopsBaseOperator):
    """Make a registered version the champion; the one it replaces becomes ``previous_champion``.

    The move goes through :meth:`ModelRegistry.promote <mlops_provider.hooks.registry.ModelRegistry.promote>`:
    serialized with every other alias move of the model, crash-safe, and re-checked at the moment of the
    move. The evidence is read from the version itself (tags ``mlops.gates`` and ``mlops.gates_champion``),
    not from the run's XCom, so a cleared, retried or re-run task decides on what the registry holds:

    * every ``fail`` gate must have passed;
    * when the config has a champion gate and the champion is no longer the version the gates compared
      against (another run promoted in between), the champion gate is evaluated again, now against the
      current champion on this version's holdout; if it fails, nothing moves (:class:`PromotionRefused`).

    A promotion record (from, to, when, why, evidence, run id) is appended to the version's
    ``mlops.promotion`` tag. Promoting the version that already is champion changes nothing.

    :param registration: output of :class:`RegisterModelOperator` (templated).
    :param reason: why, recorded in the promotion history (templated).
    :return: ``{"name", "champion", "previous_champion", "promoted", "evidence"}``
    :raises PromotionRefused: the version's gates do not hold against the current champion.
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
        from mlops_provider.hooks.registry import PromotionRefused

        reg = dict(self.registration or {})
        if not reg.get("version"):
            raise PromotionRefused(
                f"nothing to promote: the register task of this run left no version of {self.model_name} "
                "(its result is missing); run the register task first, or clear the run from evaluate_gates"
            )
        version = str(reg["version"])
        promotion = self.mlflow_hook.registry.promote(
            self.model_name,
            version,
            reason=self.reason,
            run_id=context["run_id"],
            check=lambda current: self.evidence_holds(version, current),
        )
        if promotion.promoted:
            self.announce_deployment(context, version, promotion.previous_champion, promotion.evidence or self.reason)
        out = promotion.as_dict()
        out.pop("completed")
        return out

    def announce_deployment(
        self,
        context: Context,
        version: str,
        previous: str | None,
        why: str,
        *,
        how: str = "promoted",
        trial: Mapping[str, Any] | None = None,
    ) -> None:
        """Alert that ``version`` became champion: ``retrain_finished`` when a drift event started this run (with
        the time since the drift episode began), else the trial's outcome, else ``promoted``."""
        from datetime import UTC, datetime

        from mlops_provider.notifications import catalogue

        def build() -> Any:
            link = self.run_link(context)
            if self.drift_triggered(context):
                started = (self.mlflow_hook.registry.drift_episode(self.model_name) or {}).get("started")
                alert = catalogue.retrain_finished(
                    model=self.model_name,
                    version=version,
                    previous=previous,
                    metric=self.pipeline.primary_metric,
                    value=self.primary_metric(version),
                    previous_value=self.primary_metric(previous),
                    drift_started=datetime.fromisoformat(started) if started else None,
                    deployed_at=datetime.now(UTC),
                    how=how,
                    link=link,
                )
            elif trial is not None:
                alert = catalogue.trial_outcome(**trial, promoted=True, link=link)
            else:
                alert = catalogue.promoted(
                    model=self.model_name,
                    version=version,
                    previous=previous,
                    why=why,
                    by=f"DAG run {context.get('run_id')}",
                    link=link,
                )
            return alert

        self.announce(build)  # built inside announce: a registry read that fails does not fail the promotion

    def evidence_holds(self, version: str, current: str | None) -> str:
        """Why ``version`` may replace champion ``current`` now, or :class:`PromotionRefused`."""
        from mlops_provider.hooks.registry import PromotionRefused
        from mlops_provider.operators.gates import compare_with_champion

        cfg = self.pipeline
        mv = self.mlflow_hook.get_conn().get_model_version(self.model_name, version)
        tags = mv.tags or {}
        if GATES_TAG not in tags:
            raise PromotionRefused(
                f"{self.model_name} v{version} has no gate results ({GATES_TAG} tag): it was not registered by "
                f"the training pipeline, so nothing shows it passed its gates. Not promoted; champion stays "
                f"{_v(current)}. Register it through {cfg.dag_id('training')}"
            )
        failed = [g for g in json.loads(tags[GATES_TAG]) if not g.get("passed") and g.get("severity") == "fail"]
        if failed:
            names = ", ".join(str(g.get("gate")) for g in failed)
            raise PromotionRefused(
                f"{self.model_name} v{version} failed gate(s) {names}. Not promoted; champion stays {_v(current)}"
            )
        if current is None:
            return "gates passed; no champion to compare with"
        compared = tags.get(GATES_CHAMPION_TAG)  # absent on versions registered before it was recorded
        if compared == current:
            return f"gates passed against v{current}, still champion"
        before = "no champion" if compared == "none" else (f"v{compared}" if compared else "an unrecorded champion")
        if cfg.gates.champion is None:
            if int(version) < int(current):
                raise PromotionRefused(
                    f"{self.model_name} v{version} was gated when the champion was {before}; champion is now "
                    f"v{current}, a newer version promoted since. A stale run never replaces a newer champion. Not "
                    f"promoted; champion stays v{current}. To go back on purpose, roll back through the registry "
                    "(docs/lineage.md, promotion history)"
                )
            return "gates passed; no champion gate configured"
        gate_config = cfg.gates.champion
        metric = gate_config.metric or cfg.primary_metric
        challenger = json.loads(tags.get(METRICS_TAG, "{}")).get(metric)
        if challenger is None and gate_config.if_unavailable == "skip":
            return (
                f"champion changed since the gates ran ({before}, now v{current}); champion gate skipped at "
                f"promotion: holdout {metric} not available (if_unavailable: skip)"
            )
        if challenger is None:
            raise PromotionRefused(
                f"{self.model_name} v{version} was gated against {before}, but champion is v{current} now, and "
                f"its holdout {metric} is not recorded, so the champion gate cannot be evaluated again. Not "
                f"promoted; champion stays v{current}. Train again to compare with v{current}"
            )
        import mlflow

        from mlops_provider.modeling import model_labels

        holdout = self.mlflow_hook.load_holdout(str(mv.run_id))
        candidate = mlflow.sklearn.load_model(f"models:/{self.model_name}/{version}")
        # the champion is scored with the candidate's classes and positive class, as the gates did
        gate = compare_with_champion(cfg, holdout, float(challenger), current, model_labels(candidate, cfg.task))
        assert gate is not None  # a champion gate is configured
        if not gate.passed and gate.severity == "fail":
            raise PromotionRefused(
                f"{self.model_name} v{version} was gated against {before}, but champion is v{current} now. "
                f"The champion gate, evaluated again against v{current}: {gate.line()}. Not promoted; champion "
                f"stays v{current}. A newer training run compares with v{current} on its own"
            )
        self.log.warning(
            "Champion changed since v%s's gates ran (they compared against %s); evaluated again: %s",
            version,
            before,
            gate.line(),
        )
        return f"champion gate evaluated again against v{current} at promotion ({before} when gated): {gate.detail}"


class RollbackOperator(MlopsBaseOperator):
    """Put the previous champion (or a given version) back as champion, in one step.

    What a person runs when the new champion misbehaves: ``airflow dags trigger <model>_rollback``, optionally
    with ``-c '{"version": "3", "reason": "..."}'``. The move goes through :meth:`ModelRegistry.rollback
    <mlops_provider.hooks.registry.ModelRegistry.rollback>`: serialized with every other alias move of the
    model, crash-safe (a killed try is completed by its retry), and checked inside the model's lock against
    the champion of that moment. ``champion`` goes to the target, ``previous_champion`` to the champion it
    replaces, and a history record of ``kind: "rollback"`` (reason, who triggered the run, run id) is kept
    on the target version. Scoring serves the target from its next run.

    :param version: the version to restore (templated); default: the DAG run's ``version`` param (from
        ``dag_run.conf``), else the ``previous_champion``. It must have passed its gates when trained.
    :param reason: why, recorded in the history (templated); default: the run's ``reason`` param, else
        "manual rollback".
    :return: ``{"name", "champion", "previous_champion", "promoted", "evidence", "kind"}``; ``promoted`` is
        False when nothing moved (the target already is champion, or this run rolled back before).
    :raises RollbackRefused: no ``previous_champion`` and no version given, an unknown version, or a version
        that never passed its gates. Nothing moves then.
    """

    template_fields: Sequence[str] = ("version", "reason")
    ui_color = "#f5c6cb"

    def __init__(self, *, version: str | int | None = None, reason: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.version = version
        self.reason = reason

    def requested(self, context: Context) -> tuple[str | None, str]:
        """The version (None: the previous champion) and reason this run asks for."""
        from airflow.sdk.exceptions import AirflowFailException

        params = dict(context.get("params") or {})
        dag_run = context.get("dag_run")
        conf = dict(getattr(dag_run, "conf", None) or {})
        asked = [self.version, params.get("version"), conf.get("version")]
        raw = next((v for v in asked if v is not None and str(v).strip()), None)
        version = str(raw).strip().removeprefix("v") if raw is not None else None
        if version is not None and not version.isdigit():
            raise AirflowFailException(
                f"rollback of {self.model_name}: version {raw!r} is not a version number; give one like "
                '"3" (-c \'{"version": "3"}\'), or none to go back to the previous champion. Nothing moved'
            )
        given = [self.reason, params.get("reason"), conf.get("reason")]
        reason = next((str(r).strip() for r in given if r is not None and str(r).strip()), "manual rollback")
        return version, reason

    def triggered_by(self, context: Context) -> str:
        """Who triggered the DAG run (Airflow's ``triggering_user_name``), "unknown" when the run does not say."""
        user = getattr(context.get("dag_run"), "triggering_user_name", None)
        if not user:
            self.log.warning(
                "The DAG run does not say who triggered it (no triggering_user_name); the rollback is recorded "
                "as by 'unknown' with run id %s",
                context.get("run_id"),
            )
            return "unknown"
        return str(user)

    def execute(self, context: Context) -> dict[str, Any]:
        from mlops_provider.hooks.registry import RollbackRefused

        version, reason = self.requested(context)
        by = self.triggered_by(context)
        try:
            rollback = self.mlflow_hook.registry.rollback(
                self.model_name, to=version, reason=reason, by=by, run_id=context.get("run_id")
            )
        except RollbackRefused as exc:
            if version is not None:
                raise
            raise RollbackRefused(
                f'{exc}: airflow dags trigger {self.pipeline.dag_id("rollback")} -c \'{{"version": "N"}}\''
            ) from None
        name = self.model_name
        if rollback.promoted:
            from mlops_provider.notifications import catalogue

            self.announce(
                catalogue.rolled_back(
                    model=name,
                    version=rollback.champion,
                    previous=rollback.previous_champion,
                    why=reason,
                    by=by,
                    link=self.run_link(context),
                )
            )
            self.log.info(
                "%s: champion %s → v%s (rollback by %s: %s)",
                name,
                _v(rollback.previous_champion),
                rollback.champion,
                by,
                reason,
            )
        else:
            self.log.info(
                "%s: champion stays v%s (nothing to roll back: %s)",
                name,
                rollback.champion,
                rollback.evidence or "already champion",
            )
        out = rollback.as_dict()
        out.pop("completed")
        return out


def _v(version: str | None) -> str:
    return f"v{version}" if version else "unset"
