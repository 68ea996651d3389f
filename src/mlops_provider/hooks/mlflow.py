"""MLflow hook: the tracking store and model registry behind an Airflow connection of type ``mlflow``.

Connection fields:

* ``host`` (+ ``schema`` as the URL scheme, ``port``): an MLflow tracking server, e.g. host
  ``mlflow.internal``, schema ``https``, port ``5000``.
* extra ``tracking_uri``: any MLflow tracking URI instead (``sqlite:////abs/path/mlflow.db``,
  ``postgresql://...``); wins over host.
* extra ``registry_uri``: a separate registry store (default: the tracking URI).
* extra ``artifact_root``: where new experiments keep artifacts (a folder or ``s3://`` prefix). Needed
  for SQL tracking stores; a tracking server decides on its own when it is absent.
* ``login`` + ``password``: HTTP Basic credentials for a tracking server (MLflow's ``basic-auth`` app
  or a proxy in front of the server).
* ``password`` without ``login``, or extra ``token``: a bearer token (``Authorization: Bearer ...``).
* extra ``lock_uri``: what serializes alias moves of a model across workers (see
  :func:`mlops_provider.hooks.locks.alias_lock`): a shared folder or a PostgreSQL/MySQL URL. Default: a
  folder next to a SQLite store, or an advisory lock in a PostgreSQL/MySQL store. Required with a tracking
  server (``http(s)://``): without it champion is never moved.
* extra ``create_if_missing``: ``true`` lets a ``sqlite:///`` store that does not exist be created (a
  first start). Without it a missing SQLite file is an error: a registry that vanished (moved, deleted, a
  typo in the path) is never silently replaced by an empty one, which would have no champion to compare
  with and promote whatever comes first.

Credentials apply to http(s) tracking URIs only; for other stores they are ignored (a PostgreSQL URI
carries its own). :meth:`MlflowHook.get_conn` applies them for the current process, like the tracking
URI: every MLflow request of the process (fluent ``mlflow.*`` calls and clients) carries them until a
hook on another connection is applied, or something else changes MLflow's tracking URI. They are
never written to the environment or to files (see :mod:`mlops_provider.hooks.mlflow_auth`).
"""

from __future__ import annotations

import logging
import os
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from mlops_provider.hooks.registry import ModelRegistry


def _mask_url_passwords(*uris: str | None) -> None:
    """Register passwords written inside URIs (``http://user:pw@host``, ``postgresql://u:pw@db``) with
    Airflow's secret masker, so MLflow or database errors that echo the URI never show them in logs."""
    from airflow.sdk.log import mask_secret

    for uri in uris:
        if uri and "@" in uri:
            try:
                password = urlsplit(uri).password
            except ValueError:
                continue
            if password:
                mask_secret(password)


#: Loggers MLflow gives a stderr handler of its own (``mlflow.utils.logging_utils._configure_mlflow_loggers``).
_MLFLOW_LOGGERS = ("mlflow", "alembic", "sqlalchemy.engine", "huey")


def route_mlflow_logging() -> None:
    """Send MLflow's log records to the process's own handlers (in a task, Airflow's task log) at their level.

    MLflow writes its loggers' records to stderr through a handler of its own, and Airflow's task runner logs
    every stderr line at error level: "Created version '3'" would read as an error. Its handler is removed
    and the records propagate, with MLflow's thread filter kept; the artifact download progress bars are
    turned off. Idempotent; called whenever the hook points MLflow at a store.
    """
    import mlflow  # noqa: F401  (configures its loggers on first import; undo that below)
    from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR
    from mlflow.utils.logging_utils import SuppressLogFilter

    for name in _MLFLOW_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [h for h in logger.handlers if getattr(h, "stream", None) is None]
        logger.propagate = True
        if name == "mlflow" and not any(isinstance(f, SuppressLogFilter) for f in logger.filters):
            logger.addFilter(SuppressLogFilter())
    # read at each download: MLflow's one switch for its tqdm bars (inherited by child processes, harmlessly)
    os.environ.setdefault(MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name, "false")


class MlflowHook(BaseHook):
    conn_name_attr = "mlflow_conn_id"
    default_conn_name = "mlflow_default"
    conn_type = "mlflow"
    hook_name = "MLflow"

    def __init__(self, mlflow_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.mlflow_conn_id = mlflow_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": [],
            "relabeling": {
                "schema": "Scheme (http/https)",
                "host": "Tracking server host",
                "login": "Tracking server username",
                "password": "Tracking server password or token",
            },
            "placeholders": {
                "login": "empty for a bearer token",
                "password": "password, or a bearer token when the username is empty",
                "extra": '{"tracking_uri": "sqlite:////opt/mlops/mlflow.db", "artifact_root": "/opt/mlops/artifacts"}',
            },
        }

    @cached_property
    def _conn_settings(self) -> dict[str, Any]:
        conn = self.get_connection(self.mlflow_conn_id)
        extra = conn.extra_dejson or {}
        tracking_uri = extra.get("tracking_uri")
        if not tracking_uri:
            if not conn.host:
                raise ValueError(
                    f"MLflow connection {self.mlflow_conn_id!r} has neither extra.tracking_uri nor a host; "
                    'set one (e.g. extra {"tracking_uri": "sqlite:////path/mlflow.db"})'
                )
            scheme = conn.schema or "http"
            port = f":{conn.port}" if conn.port else ""
            tracking_uri = f"{scheme}://{conn.host}{port}"
        _mask_url_passwords(tracking_uri, extra.get("registry_uri"), extra.get("lock_uri"))
        return {
            "tracking_uri": tracking_uri,
            "registry_uri": extra.get("registry_uri") or tracking_uri,
            "artifact_root": extra.get("artifact_root"),
            "login": conn.login or None,
            "password": conn.password or None,
            "token": extra.get("token") or None,
            "lock_uri": extra.get("lock_uri") or None,
            "create_if_missing": str(extra.get("create_if_missing", "")).lower() in ("true", "1", "yes"),
        }

    @property
    def tracking_uri(self) -> str:
        return str(self._conn_settings["tracking_uri"])

    @property
    def registry_uri(self) -> str:
        return str(self._conn_settings["registry_uri"])

    @property
    def artifact_root(self) -> str | None:
        root = self._conn_settings["artifact_root"]
        return str(root).rstrip("/") if root else None

    @property
    def has_credentials(self) -> bool:
        """Whether the connection has a login, password or token (whatever the tracking URI)."""
        settings = self._conn_settings
        return bool(settings["login"] or settings["password"] or settings["token"])

    @cached_property
    def _authorization(self) -> str | None:
        from mlops_provider.hooks import mlflow_auth

        settings = self._conn_settings
        try:
            header = mlflow_auth.authorization_header(
                self.tracking_uri, login=settings["login"], password=settings["password"], token=settings["token"]
            )
        except ValueError as exc:  # the message names fields, never values
            raise ValueError(f"MLflow connection {self.mlflow_conn_id!r}: {exc}") from None
        if header is None and self.has_credentials:
            self.log.warning(
                "MLflow connection %r: login/password/token ignored, the tracking URI is not http(s) (scheme %r)",
                self.mlflow_conn_id,
                urlsplit(self.tracking_uri).scheme,
            )
        return header

    def get_conn(self) -> MlflowClient:
        """Point MLflow at this connection (process-local) and return the hook's client.

        Sets MLflow's tracking and registry URIs and the credentials sent to a tracking server, for the
        whole process; a connection without credentials clears those of the one applied before.
        """
        import mlflow

        from mlops_provider.hooks import mlflow_auth

        route_mlflow_logging()
        self._check_store()
        authorization = self._authorization
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.registry_uri)
        if authorization:
            mlflow_auth.ensure_registered()
        mlflow_auth.set_credentials(self.tracking_uri, authorization)
        return self._client

    def _check_store(self) -> None:
        """Refuse a SQLite tracking or registry store whose file is not there (unless creating it is allowed)."""
        from mlops_provider.hooks.locks import sqlite_path
        from mlops_provider.hooks.registry import RegistryStoreMissing

        if self._conn_settings["create_if_missing"]:
            return
        for kind, uri in (("tracking", self.tracking_uri), ("registry", self.registry_uri)):
            path = sqlite_path(uri)
            if path is not None and not path.is_file():
                raise RegistryStoreMissing(
                    f"MLflow {kind} store {path} of connection {self.mlflow_conn_id!r} does not exist. "
                    "Refusing to start an empty registry in its place (it would have no champion to compare "
                    "with). Restore or move the file back, or fix the path in the connection; to create a new "
                    'store on purpose, set extra "create_if_missing": true for the first run'
                )

    @cached_property
    def registry(self) -> ModelRegistry:
        """The registry of this connection: alias lookups, serialized crash-safe promotion, history."""
        from mlops_provider.hooks.locks import alias_lock
        from mlops_provider.hooks.registry import ModelRegistry

        client = self.get_conn()
        return ModelRegistry(client, alias_lock(self.registry_uri, self._conn_settings["lock_uri"]))

    @cached_property
    def _client(self) -> MlflowClient:
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)

    def ensure_experiment(self, name: str) -> str:
        """Experiment id of ``name``, creating it (under ``artifact_root`` when set) if needed."""
        return ensure_experiment(self.get_conn(), name, self.artifact_root)

    def load_holdout(self, run_id: str) -> pd.DataFrame:
        """The holdout rows training run ``run_id`` logged (what its gates scored)."""
        import mlflow
        import pandas as pd

        from mlops_provider.naming import HOLDOUT_ARTIFACT

        self.get_conn()
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"runs:/{run_id}/{HOLDOUT_ARTIFACT}", tracking_uri=self.tracking_uri
        )
        return pd.read_parquet(local)

    def test_connection(self) -> tuple[bool, str]:
        try:
            self.get_conn().search_experiments(max_results=1)
        except Exception as exc:
            return False, f"cannot reach MLflow at {self.tracking_uri}: {exc}"
        return True, f"MLflow reachable at {self.tracking_uri}"


def ensure_experiment(client: MlflowClient, name: str, artifact_root: str | None = None) -> str:
    """Experiment id of ``name`` in ``client``'s store, creating it (in ``<artifact_root>/<name>`` when
    ``artifact_root`` is given, else where the store decides) if needed.

    :meth:`MlflowHook.ensure_experiment` for a client that did not come from a connection (the CLI's).
    """
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = f"{artifact_root}/{name}" if artifact_root else None
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except Exception:  # created concurrently
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)
