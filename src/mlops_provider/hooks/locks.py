"""Alias locks: what serializes the alias moves of one model across processes and workers.

:func:`alias_lock` picks the lock for a registry: ``flock`` on a folder (:class:`FileAliasLock`), an advisory
lock in a PostgreSQL/MySQL database (:class:`SqlAdvisoryLock`), or none (:class:`NoAliasLock`, which refuses
every move). Each is released by the kernel or the database when its holder dies, so a killed task never
leaves a model locked. :class:`~mlops_provider.hooks.registry.ModelRegistry` holds one around every move.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from airflow.sdk.exceptions import AirflowException

#: How long an alias move waits for the model's lock before the task fails (and is retried by Airflow).
LOCK_TIMEOUT_SECONDS = 300.0


class RegistryLockTimeout(AirflowException):
    """Another alias move of the same model held the lock too long; Airflow retries the task."""


class AliasLock(Protocol):
    def hold(self, name: str, timeout: float) -> contextlib.AbstractContextManager[None]: ...


class FileAliasLock:
    """``flock`` on ``<folder>/<model>.lock``: serializes processes of one machine or of one shared file system.

    The kernel drops the lock when its holder dies, so a killed task never leaves the model locked.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @contextlib.contextmanager
    def hold(self, name: str, timeout: float) -> Iterator[None]:
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}.lock"
        with path.open("a+") as fh:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise RegistryLockTimeout(_lock_timeout_text(name, timeout, str(path))) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def __repr__(self) -> str:
        return f"FileAliasLock({str(self.folder)!r})"


class SqlAdvisoryLock:
    """A session-level advisory lock in a PostgreSQL or MySQL database (the registry's own, by default).

    Held on one dedicated connection; the database releases it when that connection ends, so a killed
    task never leaves the model locked. Works across every worker that reaches the database.
    """

    def __init__(self, url: str) -> None:
        import importlib.util

        from mlops_provider.hooks.registry import RegistryError  # the registry imports this module

        self.dialect = urlsplit(url).scheme.split("+", 1)[0]
        if self.dialect not in ("postgresql", "mysql"):
            raise RegistryError(f"no advisory lock for database URLs of scheme {self.dialect!r}")
        if url.startswith("postgresql://") and importlib.util.find_spec("psycopg") is None:
            url = "postgresql+psycopg2://" + url[len("postgresql://") :]  # SQLAlchemy 2.1's default driver is psycopg 3
        self.url = url

    @contextlib.contextmanager
    def hold(self, name: str, timeout: float) -> Iterator[None]:
        import sqlalchemy as sa
        from sqlalchemy.pool import NullPool

        engine = sa.create_engine(self.url, poolclass=NullPool)
        key = f"mlops-aliases:{name}"
        try:
            with engine.connect() as conn:
                deadline = time.monotonic() + timeout
                if self.dialect == "postgresql":
                    number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
                    acquire = sa.text("SELECT pg_try_advisory_lock(:k)").bindparams(k=number)
                    release = sa.text("SELECT pg_advisory_unlock(:k)").bindparams(k=number)
                else:
                    acquire = sa.text("SELECT GET_LOCK(:k, 0)").bindparams(k=key[:64])
                    release = sa.text("SELECT RELEASE_LOCK(:k)").bindparams(k=key[:64])
                while not conn.execute(acquire).scalar():
                    conn.commit()
                    if time.monotonic() >= deadline:
                        raise RegistryLockTimeout(_lock_timeout_text(name, timeout, f"{self.dialect} advisory lock"))
                    time.sleep(0.05)
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(release)
                    conn.commit()
        finally:
            engine.dispose()

    def __repr__(self) -> str:
        return f"SqlAdvisoryLock({self.dialect})"


class NoAliasLock:
    """Stands in where no lock can be had: lookups work, every alias move is refused with ``reason``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def hold(self, name: str, timeout: float) -> contextlib.AbstractContextManager[None]:
        from mlops_provider.hooks.registry import RegistryError  # the registry imports this module

        raise RegistryError(self.reason)


def _lock_timeout_text(name: str, timeout: float, where: str) -> str:
    return (
        f"another alias move of model {name!r} held its lock ({where}) for more than {timeout:.0f} s; "
        "this task is retried. If it keeps happening, look for a promotion task that hangs"
    )


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for other URIs and in-memory databases)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


def alias_lock(registry_uri: str, lock_uri: str | None = None) -> AliasLock:
    """The lock that serializes alias moves for a registry.

    * ``lock_uri`` when the connection sets one: a folder (``/shared/locks`` or ``file:///shared/locks``)
      on a file system every worker mounts, or a ``postgresql://`` / ``mysql://`` database URL.
    * else a SQLite registry: a folder next to the database file (``<db>.locks/``).
    * else a PostgreSQL/MySQL registry: an advisory lock in that database.
    * an MLflow tracking server (``http(s)://``) gives no lock of its own: the connection must set
      ``lock_uri`` (a database or shared folder every worker reaches); until it does, lookups work and alias
      moves are refused (:class:`NoAliasLock`).
    """
    target = lock_uri or registry_uri
    scheme = urlsplit(target).scheme.split("+", 1)[0]
    if lock_uri and (scheme in ("", "file")):
        return FileAliasLock(Path(lock_uri[len("file://") :] if lock_uri.startswith("file://") else lock_uri))
    if scheme == "sqlite":
        db = sqlite_path(target)
        if db is None:
            return NoAliasLock(f"cannot lock an in-memory SQLite registry ({target}); use a database file")
        return FileAliasLock(db.with_name(db.name + ".locks"))
    if scheme in ("postgresql", "mysql"):
        return SqlAdvisoryLock(target)
    return NoAliasLock(
        f"the registry at {registry_uri if not lock_uri else lock_uri} offers no lock to serialize alias moves "
        "across workers, so champion is never moved there: set extra.lock_uri of the MLflow connection to a "
        'database every worker reaches (e.g. "postgresql://airflow@db/mlflow") or to a folder on a shared '
        "file system"
    )
