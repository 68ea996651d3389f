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


_NEEDS_A_CHANGE = "a retry would fail the same way; this needs a change in data, model or config"


def _tries(ti: Any) -> tuple[int | None, int | None]:
    """(this try's number, tries in all) of a task instance, or None where it does not say."""
    try_number = getattr(ti, "try_number", None)
    max_tries = getattr(ti, "max_tries", None)  # retries, plus the tries a clear of the task added
    if not isinstance(max_tries, int) or isinstance(max_tries, bool):
        max_tries = getattr(getattr(ti, "task", None), "retries", None)
    ok = isinstance(try_number, int) and not isinstance(try_number, bool) and try_number > 0
    total = max_tries + 1 if isinstance(max_tries, int) and not isinstance(max_tries, bool) else None
    return (try_number if ok else None), total


def retry_outcome(context: Any) -> tuple[bool, str]:
    """Whether Airflow retries the failed task, and what the alert says about it (after the run id).

    Airflow never retries an ``AirflowFailException`` (``GateFailed``, ``DataValidationFailed``,
    ``DataPathError`` ...), whatever ``retries`` says, nor a task on its last try. Callbacks run once Airflow
    has decided: the task instance's state is ``up_for_retry`` when a retry follows (``on_retry_callback``)
    and ``failed`` when none does (``on_failure_callback``).
    """
    from airflow.sdk.exceptions import AirflowFailException

    ti = context.get("ti") or context.get("task_instance")
    exc = context.get("exception")
    try_number, total = _tries(ti)
    state = getattr(ti, "state", None)
    state = str(getattr(state, "value", state) or "").lower()
    of_n = f"try {try_number} of {total}" if try_number and total else ""
    final = isinstance(exc, AirflowFailException) or bool(try_number and total and try_number >= total)
    if state == "up_for_retry" or (not state and of_n and not final):
        if try_number and total:
            return True, f" on {of_n}; Airflow retries it (try {try_number + 1} of {total})"
        return True, "; Airflow retries it"
    on = f" on try {try_number}" if try_number and try_number > 1 else ""
    if isinstance(exc, AirflowFailException):
        return False, f"{on} (not retried: {_NEEDS_A_CHANGE})"
    if try_number and total and try_number >= total:
        return False, " (not retried: the task has no retries)" if total == 1 else f" on {of_n} (no retries left)"
    if state == "failed":
        return False, f" on {of_n} (not retried: Airflow marked it failed for good)" if of_n else " (not retried)"
    return False, f" ({of_n})" if of_n else ""


#: Tasks of the training DAG after ``register`` (sign-off, trial, promotion).
DEPLOY_TASKS = ("approve", "start_", "observe_", "conclude_", "promote")


def failure_text(context: Any, model: str) -> str:
    """The alert for a failed task: what failed, the exception's first lines, whether Airflow retries it, what next."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = context.get("run_id", "?")
    exc = context.get("exception")
    first = str(exc).strip().splitlines() if exc else []
    reason = "\n".join(first[:8]) if first else "no exception text (see the task log)"
    retried, outcome = retry_outcome(context)
    url = getattr(ti, "log_url", None)
    where = f"\nLog: {url}" if url else ""
    if retried:
        head, nxt = ":large_orange_circle:", "Airflow runs it again after the retry delay; nothing downstream ran yet."
    else:
        kind = str(dag_id).rsplit("_", 1)[-1]
        stopped = {
            "training": "nothing downstream (registration, promotion) happened; the champion is unchanged.",
            "scoring": "no predictions were written for this run; the champion keeps serving.",
            "drift": "no drift verdict and no drift event for this run; no retrain was requested.",
        }.get(kind, "nothing downstream of it ran.")
        if kind == "training" and str(task_id).startswith(("observe_", "conclude_")):
            stopped = (
                "the run's end_ task takes the version off its trial if it is still on one (it then stops serving "
                "from the next scoring run); the champion is unchanged."
            )
        elif kind == "training" and str(task_id).startswith(DEPLOY_TASKS):
            stopped = "the version stays registered but does not serve; the champion is unchanged."
        head, nxt = ":red_circle:", f"the run stops here; {stopped}"
    return (
        f"{head} {model}: task `{task_id}` of `{dag_id}` failed in run `{run_id}`{outcome}.\n"
        f"{type(exc).__name__ + ': ' if exc else ''}{reason}\n"
        f"Next: {nxt}{where}"
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
