"""Sign-off by a person before a version deploys: Airflow's human-in-the-loop approval with the evidence.

Its own module: the factory imports it only for configs with ``deploy.approval.required`` (the
human-in-the-loop operators cost about 40 ms to import, paid on every DAG parse otherwise).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator

from mlops_provider.naming import GATES_TAG, METRICS_TAG
from mlops_provider.operators.base import MlopsBaseOperator
from mlops_provider.operators.deploy import registered_version

if TYPE_CHECKING:
    from airflow.sdk import Context


class SignOffOperator(MlopsBaseOperator, ApprovalOperator):
    """Ask a person to approve the registered version before it deploys (Airflow's human-in-the-loop approval).

    The request shows the candidate, every gate with its value and threshold, the champion it would replace and
    where its MLflow run is. The task waits in ``awaiting_input`` (no worker slot) until someone answers in the
    Required Actions page (or through the REST API), or until ``deploy.approval.timeout_hours`` pass: no answer
    counts as Reject. Approve → the deployment tasks run; Reject or timeout → they are skipped, nothing is
    deployed. Either way the version is tagged ``mlops.approval`` with the decision, who made it and when.

    :param registration: output of :class:`RegisterModelOperator` (templated).
    """

    template_fields: Sequence[str] = ("subject", "body", "registration")
    ui_color = "#fff3cd"

    def __init__(self, *, registration: Mapping[str, Any] | Any, config: Any, **kwargs: Any) -> None:
        from mlops_provider.config import PipelineConfig

        cfg = config if isinstance(config, PipelineConfig) else None
        approval = cfg.deploy.approval if cfg is not None else None
        kwargs.setdefault("response_timeout", timedelta(hours=approval.timeout_hours if approval else 24))
        if approval and approval.assigned_users:
            kwargs.setdefault("assigned_users", [{"id": u, "name": u} for u in approval.assigned_users])
        super().__init__(
            config=config,
            subject=f"Deploy {cfg.model if cfg else 'model'}?",
            body="",
            defaults=[ApprovalOperator.REJECT],  # no answer by the timeout: not deployed
            **kwargs,
        )
        self.registration = registration

    def request_text(self, version: str) -> tuple[str, str]:
        """Subject and Markdown body of the request: candidate, gates with numbers, champion, MLflow run."""
        cfg = self.pipeline
        registry = self.mlflow_hook.registry
        client = self.mlflow_hook.get_conn()
        mv = client.get_model_version(self.model_name, version)
        tags = mv.tags or {}
        champion = registry.champion(self.model_name)
        metrics = json.loads(tags.get(METRICS_TAG, "{}"))
        primary = cfg.primary_metric
        lines = [
            f"**Candidate:** {self.model_name} v{version} ({primary} {_num(metrics.get(primary, 'n/a'))}), "
            f"MLflow run `{mv.run_id}`",
        ]
        if champion:
            cmv = client.get_model_version(self.model_name, champion)
            cmetrics = json.loads((cmv.tags or {}).get(METRICS_TAG, "{}"))
            lines.append(f"**Replaces champion:** v{champion} ({primary} {_num(cmetrics.get(primary, 'n/a'))})")
        else:
            lines.append("**Replaces champion:** none (first deployment)")
        lines.append(f"**Deploys by:** {cfg.deploy.strategy}")
        lines += ["", "| gate | value | threshold | verdict |", "|---|---|---|---|"]
        for g in json.loads(tags.get(GATES_TAG, "[]")):
            verdict = "pass" if g.get("passed") else ("FAIL" if g.get("severity") == "fail" else "warn")
            lines.append(f"| {g.get('gate')} | {_num(g.get('value'))} | {_num(g.get('threshold'))} | {verdict} |")
        base = self.mlflow_hook.tracking_uri
        if base.startswith(("http://", "https://")):
            experiment = client.get_run(str(mv.run_id)).info.experiment_id
            lines += ["", f"MLflow run: {base.rstrip('/')}/#/experiments/{experiment}/runs/{mv.run_id}"]
        lines += ["", f"Lineage: `mlops lineage {self.model_name} {version}`"]
        subject = f"Deploy {self.model_name} v{version}" + (f" (replacing v{champion})?" if champion else "?")
        return subject, "\n".join(lines)

    def execute(self, context: Context) -> Any:
        version = registered_version(self.registration, self.model_name, "approve")
        self.subject, self.body = self.request_text(version)
        self.log.info("Asking for sign-off: %s", self.subject)
        try:
            self.notifiers = [*self.notifiers, self.request_notifier(context, version)]
        except Exception as exc:  # the request goes on without its alert; the Required Actions page has it
            self.log.error("Could not prepare the approval_requested alert: %s", exc)
        return super().execute(context)

    def request_notifier(self, context: Context, version: str) -> Any:
        """The ``approval_requested`` alert, sent by Airflow's human-in-the-loop notifiers once the request
        exists; its link opens the request on the Required Actions page (``[api] base_url``)."""
        from mlops_provider import settings
        from mlops_provider.notifications import catalogue
        from mlops_provider.notifications.alerts import AlertNotifier

        cfg = self.pipeline
        tags = self.mlflow_hook.get_conn().get_model_version(self.model_name, version).tags or {}
        gates = [g for g in json.loads(tags.get(GATES_TAG, "[]")) if not g.get("skipped")]
        champion = self.mlflow_hook.registry.champion(self.model_name)
        try:
            link: str | None = self.generate_link_to_ui_from_context(context=context, base_url=settings.ui_base_url())
        except ValueError:  # no [api] base_url
            link = None
        alert = catalogue.approval_requested(
            model=self.model_name,
            version=version,
            champion=champion,
            metric=cfg.primary_metric,
            value=self.primary_metric(version),
            champion_value=self.primary_metric(champion),
            gates_passed=sum(1 for g in gates if g.get("passed")),
            gates=len(gates),
            strategy=cfg.deploy.strategy,
            timeout_hours=cfg.deploy.approval.timeout_hours,
            assigned=cfg.deploy.approval.assigned_users,
            link=link,
        )
        return AlertNotifier(model=self.model_name, slack_conn_id=cfg.alerting.slack_conn_id, alert=alert)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        version = registered_version(self.registration, self.model_name, "approve")
        if "error" in event:  # no default applied (cannot happen with ours): recorded as timed out, then raised
            decision, by = "timed_out", None
        else:
            chosen = list(event.get("chosen_options") or [])
            if event.get("timedout"):
                decision = "timed_out"
            else:
                decision = "approved" if chosen == [ApprovalOperator.APPROVE] else "rejected"
            by = event.get("responded_by_user")
        who = (by or {}).get("name") or (by or {}).get("id") if isinstance(by, dict) else by
        record = {
            "decision": decision,
            "by": who or None,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "run_id": context.get("run_id"),
        }
        self.mlflow_hook.registry.record_approval(self.model_name, version, record)
        if decision == "approved":
            self.log.info("%s v%s approved by %s: deploying", self.model_name, version, who)
        elif decision == "rejected":
            self.log.warning("%s v%s rejected by %s: not deployed", self.model_name, version, who)
        else:
            hours = self.pipeline.deploy.approval.timeout_hours
            self.log.warning("%s v%s: no answer within %g h: not deployed", self.model_name, version, hours)
        return super().execute_complete(context, event)


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
