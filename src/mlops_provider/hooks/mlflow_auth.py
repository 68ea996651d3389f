"""Credentials of the ``mlflow`` Airflow connection on MLflow's REST requests.

MLflow asks every registered request header provider (entry point group
``mlflow.request_header_provider``) for headers before each REST call to a tracking server: fluent
``mlflow.*`` calls, ``MlflowClient`` calls and ``mlflow-artifacts:`` transfers alike.
:class:`ConnectionAuthHeaderProvider` adds an ``Authorization`` header built from the connection
that :meth:`MlflowHook.get_conn() <mlops_provider.hooks.mlflow.MlflowHook.get_conn>` last applied.

The credentials are kept in this module, for the current process only, next to the tracking URI that
``get_conn()`` sets with ``mlflow.set_tracking_uri``; nothing is written to the environment or to
files. The header is sent only while MLflow's tracking URI is still the one they were set with.

MLflow loads this module itself, through the entry point; the hook imports it only inside
``get_conn()`` (where MLflow is imported anyway), so DAG parsing never imports MLflow.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mlflow.tracking.request_header.abstract_request_header_provider import RequestHeaderProvider

HTTP_SCHEMES = frozenset({"http", "https"})


def is_http_uri(uri: str) -> bool:
    return urlsplit(uri).scheme.lower() in HTTP_SCHEMES


def authorization_header(
    tracking_uri: str, *, login: str | None = None, password: str | None = None, token: str | None = None
) -> str | None:
    """The ``Authorization`` header value for a connection, or None when there is nothing to send.

    ``token`` gives ``Bearer <token>``; ``login`` + ``password`` give HTTP Basic; a ``password`` with no
    ``login`` is a bearer token too. Only http(s) tracking URIs get a header: other stores (SQLite,
    PostgreSQL, ...) carry their own credentials, if any, in the URI.
    """
    if not is_http_uri(tracking_uri):
        return None
    if token and password:
        raise ValueError("both a password and extra.token are set; keep one")
    if token:
        return f"Bearer {token}"
    if login and password:
        return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode("ascii")
    if password:
        return f"Bearer {password}"
    if login:
        raise ValueError("a login but no password; set the password, or extra.token for a bearer token")
    return None


@dataclass(frozen=True)
class _Active:
    tracking_uri: str
    authorization: str = field(repr=False)


_lock = threading.Lock()
_active: _Active | None = None


def set_credentials(tracking_uri: str, authorization: str | None) -> None:
    """Send ``authorization`` with MLflow requests while the tracking URI is ``tracking_uri``; None clears."""
    global _active
    with _lock:
        _active = _Active(tracking_uri, authorization) if authorization else None


def clear_credentials() -> None:
    set_credentials("", None)


def active_tracking_uri() -> str | None:
    """The tracking URI credentials are set for (never the credentials themselves), or None."""
    active = _active
    return active.tracking_uri if active else None


def _current() -> _Active | None:
    active = _active
    if active is None:
        return None
    from mlflow import get_tracking_uri

    return active if get_tracking_uri() == active.tracking_uri else None


class ConnectionAuthHeaderProvider(RequestHeaderProvider):
    """``Authorization`` from the MLflow connection last applied by ``MlflowHook.get_conn()`` in this process."""

    def in_context(self) -> bool:
        return _current() is not None

    def request_headers(self) -> dict[str, str]:
        active = _current()
        return {"Authorization": active.authorization} if active else {}


def ensure_registered() -> None:
    """Register the provider with MLflow if its entry point was not picked up (e.g. a source checkout).

    MLflow instantiates entry-point providers once, when its header registry is first imported; this is
    a no-op when that already included this provider.
    """
    from mlflow.tracking.request_header import registry

    if not any(isinstance(p, ConnectionAuthHeaderProvider) for p in registry._request_header_provider_registry):
        registry._request_header_provider_registry.register(ConnectionAuthHeaderProvider)
