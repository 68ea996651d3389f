"""Operational alerts from task callbacks: Slack when a webhook connection exists, an outbox otherwise.

Without a Slack connection nothing is lost: the alert goes to the task log and is appended as one JSON
line to the outbox file (``[mlops] outbox_path``, default ``$AIRFLOW_HOME/mlops_outbox.jsonl``).

Every alert text is masked before it goes anywhere (:func:`mask_text`): secrets Airflow's secrets masker
knows of (connection passwords and sensitive extras, registered when a task fetches a connection) become
``***``, and so does the password part of any URL written with credentials (``scheme://user:pw@host``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import BaseNotifier

#: ``scheme://user:password@`` in free text: group 1 keeps everything up to the password.
_URL_CREDENTIALS = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:)[^\s/]*@")


def mask_text(text: str) -> str:
    """``text`` with every secret the secrets masker knows of, and every password written in a URL, as ``***``.

    Both maskers are asked: the task SDK's (what a task registers secrets with, e.g. the password of a
    connection it fetched) and Airflow core's (the dag-processor's and scheduler's processes). Neither is
    needed for the URL rule, which holds even for credentials nobody registered.
    """
    from importlib import import_module

    for module in ("airflow.sdk._shared.secrets_masker", "airflow._shared.secrets_masker"):
        try:
            text = str(import_module(module).redact(text))
        except Exception:  # pragma: no cover - a masker this Airflow does not have
            continue
    return _URL_CREDENTIALS.sub(r"\1***@", text)


def failure_text(context: Any, model: str) -> str:
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = context.get("run_id", "?")
    try_number = getattr(ti, "try_number", None)
    max_tries = getattr(getattr(ti, "task", None), "retries", None)
    exc = context.get("exception")
    first = str(exc).strip().splitlines() if exc else []
    reason = "\n".join(first[:8]) if first else "no exception text (see the task log)"
    tries = f" (try {try_number} of {max_tries + 1})" if try_number and max_tries is not None else ""
    url = getattr(ti, "log_url", None)
    where = f"\nLog: {url}" if url else ""
    return (
        f":red_circle: {model}: task `{task_id}` of `{dag_id}` failed{tries} in run `{run_id}`.\n"
        f"{type(exc).__name__ + ': ' if exc else ''}{reason}\n"
        f"Next: the run stops here; nothing downstream (registration, promotion) happened.{where}"
    )


class AlertNotifier(BaseNotifier):
    """Send an operational alert about a model's pipeline.

    :param model: model name, for the message.
    :param slack_conn_id: Slack incoming-webhook connection; when it does not exist, log + outbox.
    :param text: message (templated); default a failure summary built from the callback context.
    """

    template_fields: Sequence[str] = ("text",)

    def __init__(self, *, model: str, slack_conn_id: str | None = "slack_mlops", text: str | None = None) -> None:
        super().__init__()
        self.model = model
        self.slack_conn_id = slack_conn_id
        self.text = text

    def _slack_available(self) -> bool:
        if not self.slack_conn_id:
            return False
        from airflow.sdk import BaseHook

        try:
            BaseHook.get_connection(self.slack_conn_id)
        except Exception:
            return False
        return True

    def deliver(self, text: str) -> str:
        """Send ``text``, masked (:func:`mask_text`); returns where it went (``slack:<conn>`` or ``outbox:<path>``)."""
        text = mask_text(text)
        self.log.warning("MLOps alert for %s:\n%s", self.model, text)
        if self._slack_available():
            from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

            SlackWebhookHook(slack_webhook_conn_id=str(self.slack_conn_id)).send(text=text)
            return f"slack:{self.slack_conn_id}"
        from mlops_provider import settings

        path = settings.outbox_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "model": self.model,
            "slack_conn_id": self.slack_conn_id,
            "text": text,
        }
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        return f"outbox:{path}"

    def notify(self, context: Any) -> None:
        self.deliver(self.text or failure_text(context, self.model))
