"""Operational alerts from task callbacks: Slack when a webhook connection exists, an outbox otherwise.

Without a Slack connection nothing is lost: the alert goes to the task log and is appended as one JSON
line to the outbox file (``[mlops] outbox_path``, default ``$AIRFLOW_HOME/mlops_outbox.jsonl``). Nor when
Slack fails: a few bounded attempts (:attr:`AlertNotifier.slack_attempts` of at most
:attr:`AlertNotifier.slack_timeout` seconds each), then one warning in the task log and the same outbox line
with the reason in ``slack_error``. A callback never fails because of Slack.

Every alert text is masked before it goes anywhere (:func:`mask_text`): secrets Airflow's secrets masker
knows of (connection passwords and sensitive extras, registered when a task fetches a connection) become
``***``, and so does the password part of any URL written with credentials (``scheme://user:pw@host``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

if TYPE_CHECKING:
    from mlops_provider.notifications.catalogue import Alert

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


#: Exception classes whose failure has an alert kind of its own (else ``task_failed``).
_FAILURE_KINDS = {"DataValidationFailed": "validation_failed", "GateFailed": "gate_failed"}


def failure_alert(context: Any, model: str) -> Alert:
    """The alert for a failed task: what failed, the exception's lines, whether Airflow retries it, what next.

    A failed data validation or failed gates get their own kind, with every failed expectation or gate (the
    exception lists them with their numbers); any other error shows its first 8 lines.
    """
    from mlops_provider import settings
    from mlops_provider.notifications import catalogue

    ti = context.get("ti") or context.get("task_instance")
    dag_id = str(getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?"))
    task_id = str(getattr(ti, "task_id", "?"))
    run_id = str(context.get("run_id", "?"))
    exc = context.get("exception")
    kind = _FAILURE_KINDS.get(type(exc).__name__, "task_failed") if exc is not None else "task_failed"
    lines = str(exc).strip().splitlines() if exc else []
    lines = lines[:40] if kind != "task_failed" else lines[:8]
    if exc is None:  # Airflow failed it from outside: the scheduler heard nothing from the task for too long
        lines = [
            "the task reported no error: it stopped without one (its worker or machine stopped, the process was "
            "killed, or it stopped sending heartbeats); see the task log and the worker's log"
        ]
    retried, outcome = retry_outcome(context)
    url = catalogue.task_url(settings.ui_base_url(), dag_id, run_id if run_id != "?" else None, task_id)
    if retried:
        nxt = "Airflow runs it again after the retry delay; nothing downstream ran yet."
    else:
        dag_kind = dag_id.rsplit("_", 1)[-1]
        stopped = {
            "training": "nothing downstream (registration, promotion) happened; the champion is unchanged.",
            "scoring": "no predictions were written for this run; the champion keeps serving.",
            "drift": "no drift verdict and no drift event for this run; no retrain was requested.",
        }.get(dag_kind, "nothing downstream of it ran.")
        if dag_kind == "training" and task_id.startswith(("observe_", "conclude_")):
            stopped = (
                "the run's end_ task takes the version off its trial if it is still on one (it then stops serving "
                "from the next scoring run); the champion is unchanged."
            )
        elif dag_kind == "training" and task_id.startswith(DEPLOY_TASKS):
            stopped = "the version stays registered but does not serve; the champion is unchanged."
        nxt = f"the run stops here; {stopped}"
    return catalogue.failed_task(
        kind=kind,
        model=model,
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        outcome=outcome,
        retried=retried,
        error=type(exc).__name__ if exc else "",
        lines=lines,
        next=nxt,
        link=url,
    )


def failure_text(context: Any, model: str) -> str:
    """:func:`failure_alert` as text."""
    return failure_alert(context, model).text()


def _webhook_secrets(password: str | None, url: str | None) -> list[str]:
    """What of a webhook connection must not be written anywhere: token, URL, the URL's path and last part.

    Longest first, so that replacing them one after the other leaves no piece of a longer one behind.
    """
    from urllib.parse import urlsplit

    found: set[str] = set()
    for value in (password, url):
        value = (value or "").strip()
        if not value:
            continue
        found.add(value)
        path = urlsplit(value).path if "://" in value else value
        found.add(path.strip("/"))
        last = path.rstrip("/").rsplit("/", 1)[-1]
        if len(last) >= 6:  # the secret part of a Slack token; shorter ones are words like "hook"
            found.add(last)
    return sorted((s for s in found if s), key=len, reverse=True)


def _scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every one of ``secrets`` and everything :func:`mask_text` masks as ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return mask_text(text)


def _short(text: str, limit: int = 200) -> str:
    first = (text.strip().splitlines() or [""])[0]
    return first if len(first) <= limit else first[: limit - 3] + "..."


def _slack_sdk_logger() -> Any:
    """The logger the Slack SDK's webhook client writes to, silenced.

    The client writes the full webhook URL into its debug and retry lines and raw exception texts into its
    error lines; :meth:`AlertNotifier.deliver` logs each failed attempt itself, masked.
    """
    import logging

    logger = logging.getLogger("mlops_provider.notifications.slack_sdk")
    logger.setLevel(logging.CRITICAL)
    return logger


class AlertNotifier(BaseNotifier):
    """Send an operational alert about a model's pipeline.

    :param model: model name, for the message.
    :param slack_conn_id: Slack incoming-webhook connection; when it does not exist, log + outbox.
    :param text: message (templated); default a failure summary built from the callback context.
    :param alert: a prepared :class:`~mlops_provider.notifications.catalogue.Alert` (text and Slack blocks);
        wins over ``text``.

    When the connection exists but Slack fails (an error, a timeout, a non-2xx answer) on every attempt, the
    alert goes to the outbox as well, with the reason (masked) in ``slack_error``.
    """

    template_fields: Sequence[str] = ("text",)

    #: Seconds one Slack attempt may wait for the receiver (connect, then answer).
    slack_timeout: int = 10
    #: Slack attempts in all before the alert goes to the outbox.
    slack_attempts: int = 3
    #: Seconds between the first and second attempt, doubled after each further one.
    slack_backoff: float = 1.0
    #: No further attempt starts when it could end later than this many seconds after the first one began.
    slack_budget: float = 40.0

    def __init__(
        self,
        *,
        model: str,
        slack_conn_id: str | None = "slack_mlops",
        text: str | None = None,
        alert: Alert | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.slack_conn_id = slack_conn_id
        self.text = text
        self.alert = alert

    def _slack_connection(self) -> Any | None:
        if not self.slack_conn_id:
            return None
        from airflow.sdk import BaseHook

        try:
            return BaseHook.get_connection(self.slack_conn_id)
        except Exception:
            return None

    def _send_to_slack(
        self, text: str, password: str | None, blocks: list[dict[str, Any]] | None = None
    ) -> tuple[int, str] | None:
        """Post ``text`` through the Slack provider's webhook hook: None when it arrived, else (attempts, reason).

        The reason is the last attempt's error, one line, masked: neither the webhook URL nor its token.

        The hook's own client does not retry (``retry_handlers=[]``): the attempts, their timeout and the
        pauses between them are counted here, so their total stays bounded even when the receiver hangs.
        """
        secrets = _webhook_secrets(password, None)
        started = time.monotonic()
        pause = self.slack_backoff
        attempts = max(1, self.slack_attempts)
        for attempt in range(1, attempts + 1):
            try:
                from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

                hook = SlackWebhookHook(
                    slack_webhook_conn_id=str(self.slack_conn_id),
                    timeout=self.slack_timeout,
                    retry_handlers=[],
                    logger=_slack_sdk_logger(),
                )
                secrets = _webhook_secrets(password, hook.get_conn().url)  # builds the client: URL from the connection
                response = hook.send(text=text, blocks=blocks) if blocks else hook.send(text=text)
                status = getattr(response, "status_code", 200)
                if isinstance(status, int) and 200 <= status < 300:
                    return None
                reason = _short(_scrub(f"HTTP {status}: {getattr(response, 'body', '')}", secrets))
            except Exception as err:
                reason = _short(_scrub(f"{type(err).__name__}: {err}", secrets))
            elapsed = time.monotonic() - started
            if attempt == attempts or elapsed + pause + self.slack_timeout > self.slack_budget:
                return attempt, reason
            self.log.info(
                "Slack attempt %d of %d through connection %r failed (%s); trying again in %.0f s",
                attempt,
                attempts,
                self.slack_conn_id,
                reason,
                pause,
            )
            time.sleep(pause)
            pause *= 2
        return attempts, "no attempt made"  # pragma: no cover - the loop returns

    def _to_outbox(self, text: str, slack_error: str | None = None, extra: dict[str, Any] | None = None) -> str:
        from mlops_provider import settings

        path = settings.outbox_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        record: dict[str, Any] = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "model": self.model,
            "slack_conn_id": self.slack_conn_id,
            **(extra or {}),
            "text": text,
        }
        if slack_error is not None:
            record["slack_error"] = slack_error
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        return f"outbox:{path}"

    def deliver(self, message: str | Alert) -> str:
        """Send ``message``, masked (:func:`mask_text`); returns where it went (``slack:<conn>`` or ``outbox:<path>``).

        Slack when the connection exists and one of the attempts gets through (an :class:`Alert` as blocks,
        with its text as the fallback); the outbox when there is no connection or every attempt failed (then
        with ``slack_error``). The outbox line of an :class:`Alert` has its kind, severity and numbers too.
        Slack's failures never raise.
        """
        blocks: list[dict[str, Any]] | None = None
        extra: dict[str, Any] | None = None
        if isinstance(message, str):
            text = mask_text(message)
        else:
            message = masked(message)
            text = message.text()
            extra = message.record()
            blocks = message.blocks()
        self.log.warning("MLOps alert for %s:\n%s", self.model, text)
        conn = self._slack_connection()
        if conn is None:
            return self._to_outbox(text, extra=extra)
        failed = self._send_to_slack(text, getattr(conn, "password", None), blocks)
        if failed is None:
            return f"slack:{self.slack_conn_id}"
        attempts, slack_error = failed
        where = self._to_outbox(text, slack_error=slack_error, extra=extra)
        self.log.warning(
            "Slack delivery of the %s alert through connection %r failed after %d attempt(s): %s. "
            "The alert is in the outbox %s instead.",
            self.model,
            self.slack_conn_id,
            attempts,
            slack_error,
            where.removeprefix("outbox:"),
        )
        return where

    def notify(self, context: Any) -> None:
        try:
            if self.alert is not None:
                self.deliver(self.alert)
                return
            if self.text:
                self.deliver(self.text)
                return
        except Exception as err:  # a callback or notifier never fails its task because of the alert
            self.log.error("Could not deliver the alert of %s: %s", self.model, mask_text(str(err)))
            return
        failure = context.get("exception")
        if getattr(failure, "announced", False):  # the operator sent this event's alert itself, with its numbers
            self.log.info("The alert for this failure was sent by the task itself")
            return
        announce(lambda: failure_alert(context, self.model), self.slack_conn_id, log=self.log)


def _mask_values(value: Any) -> Any:
    """``value`` with :func:`mask_text` applied to every string in it (lists, tuples and dicts walked)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _mask_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask_values(v) for v in value)
    return value


def masked(alert: Alert) -> Alert:
    """``alert`` with every text and figure masked (:func:`mask_text`): what the task log, Slack (text and
    blocks), the outbox and the incident log get."""
    from dataclasses import replace

    return replace(
        alert,
        headline=mask_text(alert.headline),
        details=tuple(mask_text(d) for d in alert.details),
        next=mask_text(alert.next),
        link=mask_text(alert.link) if alert.link else alert.link,
        numbers=_mask_values(dict(alert.numbers)),
    )


def announce(alert: Alert | Callable[[], Alert], slack_conn_id: str | None, *, log: Any = None) -> str | None:
    """Deliver ``alert`` (:meth:`AlertNotifier.deliver`) and record its incident
    (:func:`~mlops_provider.notifications.incidents.track`). Never raises: the event it reports has happened
    whatever becomes of the message, so a task goes on; a failure to build, record or deliver the alert is
    logged. ``alert`` may be a function that builds it (when building reads the registry). Returns where it
    went.
    """
    import logging

    from mlops_provider.notifications import incidents

    logger = log or logging.getLogger(__name__)
    try:
        alert = masked(alert() if callable(alert) else alert)
    except Exception as exc:
        logger.error("Could not build an alert: %s", mask_text(f"{type(exc).__name__}: {exc}"))
        return None
    try:
        incidents.track(alert)
    except Exception as exc:
        logger.error("Could not record the %s incident of %s: %s", alert.kind, alert.model, mask_text(str(exc)))
    try:
        return AlertNotifier(model=alert.model, slack_conn_id=slack_conn_id).deliver(alert)
    except Exception as exc:
        logger.error("Could not deliver the %s alert of %s: %s", alert.kind, alert.model, mask_text(str(exc)))
        return None


class RecoveryNotifier(BaseNotifier):
    """DAG-level success callback: a run that succeeds after failed runs of its DAG resolves their incidents
    and sends the ``recovered`` alert. It runs in the dag-processor (Airflow 3 runs DAG-level callbacks there).

    :param model: model name.
    :param slack_conn_id: as for :class:`AlertNotifier`.
    """

    def __init__(self, *, model: str, slack_conn_id: str | None = "slack_mlops") -> None:
        super().__init__()
        self.model = model
        self.slack_conn_id = slack_conn_id

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Nothing to render; and where the DAG is a serialized one (``dag.test()`` runs DAG callbacks so), it has
        no template environment to ask for."""

    def notify(self, context: Any) -> None:
        from mlops_provider import settings
        from mlops_provider.notifications import catalogue, incidents

        dag_id = str(getattr(context.get("dag"), "dag_id", "") or "")
        run_id = str(context.get("run_id") or "")
        if not dag_id:
            return
        closed = incidents.resolve(self.model, f"dag:{dag_id}", f"run {run_id} succeeded")
        if not closed:
            return
        alert = catalogue.recovered(
            model=self.model,
            dag_id=dag_id,
            run_id=run_id,
            failures=sum(1 + int(i.get("updates") or 0) for i in closed),
            since=min(str(i["opened_at"]) for i in closed),
            link=catalogue.run_url(settings.ui_base_url(), dag_id, run_id),
        )
        announce(alert, self.slack_conn_id, log=self.log)
