"""The model registry behind :class:`~mlops_provider.hooks.mlflow.MlflowHook`: aliases, promotion, history.

Every move of an alias of one model goes through :class:`ModelRegistry`, and each move is

* **serialized**: it holds the model's alias lock (:func:`alias_lock`) from reading the current champion
  to the last write, so two promotions at once cannot both replace the same champion;
* **re-checked**: the caller's ``check`` runs inside the lock with the champion as it is at that moment
  and refuses (:class:`PromotionRefused`) when the evidence no longer holds against it;
* **crash-safe**: the decided move is written first as an intent (tag ``mlops.promotion_intent`` on the
  registered model), then applied step by step with idempotent writes, then the intent is removed. A move
  interrupted at any step (a killed worker, a lost connection) is completed by the next alias move of the
  model, the retry of the same task included, before anything else happens.

Heavy imports (mlflow, sqlalchemy) happen inside functions: hooks are imported while DAGs are parsed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from mlops_provider.naming import (
    CHALLENGER,
    CHAMPION,
    DRIFT_EPISODE_TAG,
    PREVIOUS_CHAMPION,
    PROMOTION_INTENT_TAG,
    PROMOTION_TAG,
)

log = logging.getLogger(__name__)

#: How long an alias move waits for the model's lock before the task fails (and is retried by Airflow).
LOCK_TIMEOUT_SECONDS = 300.0


class RegistryError(AirflowFailException):
    """The registry cannot be used as configured; a retry would not help. The message says what to fix."""


class PromotionRefused(RegistryError):
    """The evidence a promotion relies on does not hold against the champion of this moment."""


class RegistryStoreMissing(RegistryError):
    """The connection points at a SQLite store that does not exist (moved, deleted, or a typo)."""


class RegistryLockTimeout(AirflowException):
    """Another alias move of the same model held the lock too long; Airflow retries the task."""


#: ``check(current_champion_version)`` returns the evidence text recorded with the promotion, or raises
#: :class:`PromotionRefused`. It runs inside the model's lock.
Check = Callable[[str | None], str]


# -- locks ----------------------------------------------------------------------------------------------


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


# -- the registry ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Promotion:
    """Outcome of :meth:`ModelRegistry.promote`."""

    name: str
    champion: str
    previous_champion: str | None
    promoted: bool
    evidence: str = ""
    completed: list[dict[str, Any]] = field(default_factory=list)  # interrupted moves finished first

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _not_found(exc: Exception) -> bool:
    """Whether an MLflow error means "no such alias / model" (as opposed to a store that cannot answer)."""
    return getattr(exc, "error_code", None) in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ModelRegistry:
    """Alias lookups, serialized crash-safe promotion and the promotion history of registered models.

    :param client: an ``MlflowClient`` (the hook's).
    :param lock: how alias moves are serialized; lookups and the history need none.
    """

    def __init__(self, client: Any, lock: AliasLock | None = None, lock_timeout: float = LOCK_TIMEOUT_SECONDS) -> None:
        self.client = client
        self._lock = lock
        self.lock_timeout = lock_timeout

    # -- lookups ---------------------------------------------------------------------------------------

    def alias(self, name: str, alias: str) -> str | None:
        """Version the alias points at, None when it is not set (or the model does not exist)."""
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(name, alias).version)
        except MlflowException as exc:
            if _not_found(exc):
                return None
            raise  # a store that cannot answer must never read as "no champion"

    def champion(self, name: str) -> str | None:
        return self.alias(name, CHAMPION)

    def history(self, name: str) -> list[dict[str, Any]]:
        """Every promotion of ``name``, oldest first, from the versions' ``mlops.promotion`` tags."""
        events: list[dict[str, Any]] = []
        for mv in self.client.search_model_versions(f"name = '{name}'"):
            text = (mv.tags or {}).get(PROMOTION_TAG)
            if not text:
                continue
            try:
                events.extend(json.loads(text))
            except ValueError:
                log.warning("%s v%s: unreadable %s tag ignored", name, mv.version, PROMOTION_TAG)
        # ``seq`` orders promotions made under the lock (clocks of two workers may disagree, and two moves
        # can fall in one second); records written before it existed sort first, by time.
        return sorted(events, key=lambda e: (int(e.get("seq") or 0), str(e.get("at", ""))))

    def pending(self, name: str) -> dict[str, Any] | None:
        """The interrupted (or in-flight) alias move of ``name``, if any."""
        from mlflow.exceptions import MlflowException

        try:
            tags = self.client.get_registered_model(name).tags or {}
        except MlflowException as exc:
            if _not_found(exc):
                return None
            raise
        text = tags.get(PROMOTION_INTENT_TAG)
        if not text:
            return None
        try:
            intent = json.loads(text)
            if not isinstance(intent, dict) or "to" not in intent or "id" not in intent:
                raise ValueError("not an intent record")
        except ValueError:
            raise RegistryError(
                f"model {name!r} has an unreadable {PROMOTION_INTENT_TAG} tag ({text[:80]!r}), so no alias of it can "
                "move safely: check the champion and previous_champion aliases in MLflow, then delete that tag"
            ) from None
        return dict(intent)

    def drift_episode(self, name: str) -> dict[str, Any] | None:
        """The open drift episode of ``name`` (retrain requests and the brakes' state), None when none is open."""
        from mlflow.exceptions import MlflowException

        try:
            text = (self.client.get_registered_model(name).tags or {}).get(DRIFT_EPISODE_TAG)
        except MlflowException as exc:
            if _not_found(exc):
                return None
            raise
        return dict(json.loads(text)) if text else None

    def set_drift_episode(self, name: str, episode: dict[str, Any] | None) -> None:
        """Record the drift episode of ``name``; ``None`` closes it."""
        if episode is not None:
            self.client.set_registered_model_tag(name, DRIFT_EPISODE_TAG, json.dumps(episode))
        elif self.drift_episode(name) is not None:
            self.client.delete_registered_model_tag(name, DRIFT_EPISODE_TAG)

    # -- versions --------------------------------------------------------------------------------------

    def register(self, name: str, model_uri: str, run_id: str, tags: dict[str, str]) -> tuple[str, bool]:
        """The version of ``name`` made from MLflow run ``run_id``: found if an earlier try created it, created
        otherwise with every tag in the same call. Returns (version, created). A failed creation never leaves
        a registered model without versions behind."""
        import mlflow
        from mlflow.exceptions import MlflowException

        from mlops_provider.lineage import oversized

        existing = self.client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
        if existing:
            return str(max(int(v.version) for v in existing)), False
        too_long = oversized(tags)
        if too_long:
            raise RegistryError(
                f"cannot register {name} from run {run_id}: tag(s) {', '.join(too_long)} exceed MLflow's limit "
                "of 100,000 characters. Nothing was registered"
            )
        try:
            self.client.get_registered_model(name)
            model_existed = True
        except MlflowException as exc:
            if not _not_found(exc):
                raise
            model_existed = False
        try:
            return str(mlflow.register_model(model_uri, name, tags=tags).version), True
        except Exception:
            try:
                if not model_existed and not self.client.search_model_versions(f"name = '{name}'"):
                    log.warning("Registering %s failed; deleting the empty registered model it left", name)
                    self.client.delete_registered_model(name)
            except Exception as cleanup:  # the original error is the one to report
                log.warning("Could not check for an empty registered model %s: %s", name, cleanup)
            raise

    # -- alias moves -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, name: str) -> Iterator[list[dict[str, Any]]]:
        """Hold ``name``'s alias lock; any interrupted move of it is completed first (and yielded)."""
        if self._lock is None:
            raise RegistryError("this registry was opened without an alias lock; it can only read")
        with self._lock.hold(name, self.lock_timeout):
            yield self._complete_pending(name)

    def set_challenger(self, name: str, version: str) -> None:
        if isinstance(self._lock, NoAliasLock):  # no champion can move here, so no move can be pending
            self.client.set_registered_model_alias(name, CHALLENGER, version)
            return
        with self.locked(name):
            self.client.set_registered_model_alias(name, CHALLENGER, version)

    def promote(self, name: str, version: str, *, reason: str, run_id: str | None, check: Check) -> Promotion:
        """Make ``version`` the champion of ``name`` if ``check`` accepts the champion of this moment.

        The champion it replaces becomes ``previous_champion``; ``challenger`` is dropped if it pointed at
        ``version``; a record (from, to, when, why, evidence, run id) is appended to the version's
        ``mlops.promotion`` tag. Promoting the champion again changes nothing.
        """
        version = str(version)
        with self.locked(name) as completed:
            current = self.champion(name)
            finished = next((i for i in completed if str(i.get("to")) == version), None)
            if current == version and finished is not None:  # this very promotion, interrupted, now complete
                return Promotion(name, version, finished.get("from"), True, str(finished.get("evidence")), completed)
            if current == version:
                if not any(str(e.get("to")) == version for e in self.history(name)):
                    log.warning(
                        "%s v%s is champion but no promotion record says why: its alias was moved outside the pipeline",
                        name,
                        version,
                    )
                self._drop_challenger(name, version)
                log.info("%s v%s is already champion; nothing to do", name, version)
                return Promotion(name, version, self.alias(name, PREVIOUS_CHAMPION), False, completed=completed)
            evidence = check(current)
            intent = {
                "id": uuid.uuid4().hex,
                "seq": max((int(e.get("seq") or 0) for e in self.history(name)), default=0) + 1,
                "from": current,
                "to": version,
                "at": _now(),
                "reason": reason,
                "evidence": evidence,
                "run_id": run_id,
            }
            self.client.set_registered_model_tag(name, PROMOTION_INTENT_TAG, json.dumps(intent))
            self._apply(name, intent)
        log.info(
            "Promoted %s v%s to champion (previous champion: %s) because %s; %s",
            name,
            version,
            f"v{current}" if current else "none",
            reason,
            evidence,
        )
        return Promotion(name, version, current, True, evidence, completed)

    def _complete_pending(self, name: str) -> list[dict[str, Any]]:
        intent = self.pending(name)
        if intent is None:
            return []
        current = self.champion(name)
        applied = (
            current == intent.get("from") and intent.get("from") != intent.get("to") and self._recorded(name, intent)
        )
        if applied or current not in (intent.get("from"), intent.get("to")):
            log.warning(
                "%s: an interrupted promotion of v%s (from %s, %s) is abandoned: champion is v%s now, moved "
                "outside the pipeline",
                name,
                intent.get("to"),
                intent.get("from"),
                intent.get("at"),
                current,
            )
            self.client.delete_registered_model_tag(name, PROMOTION_INTENT_TAG)
            return []
        log.warning(
            "%s: completing an interrupted promotion of v%s (from %s, decided %s, run %s)",
            name,
            intent.get("to"),
            f"v{intent['from']}" if intent.get("from") else "no champion",
            intent.get("at"),
            intent.get("run_id"),
        )
        self._apply(name, intent)
        return [intent]

    def _recorded(self, name: str, intent: dict[str, Any]) -> bool:
        """Whether the intent's history record was written (it got as far as that step)."""
        mv = self.client.get_model_version(name, str(intent["to"]))
        history = json.loads((mv.tags or {}).get(PROMOTION_TAG, "[]"))
        return any(h.get("id") == intent["id"] for h in history)

    def _apply(self, name: str, intent: dict[str, Any]) -> None:
        """Carry out a recorded move; every step can be repeated, so an interrupted one is rolled forward."""
        to, frm = str(intent["to"]), intent.get("from")
        self.client.set_registered_model_alias(name, CHAMPION, to)
        if frm is not None:
            self.client.set_registered_model_alias(name, PREVIOUS_CHAMPION, str(frm))
        mv = self.client.get_model_version(name, to)
        history = json.loads((mv.tags or {}).get(PROMOTION_TAG, "[]"))
        if not any(h.get("id") == intent["id"] for h in history):
            history.append(
                {k: intent.get(k) for k in ("id", "seq", "from", "to", "at", "reason", "evidence", "run_id")}
            )
            self.client.set_model_version_tag(name, to, PROMOTION_TAG, json.dumps(history))
        self._drop_challenger(name, to)
        self.client.delete_registered_model_tag(name, PROMOTION_INTENT_TAG)

    def _drop_challenger(self, name: str, version: str) -> None:
        if self.alias(name, CHALLENGER) == version:
            self.client.delete_registered_model_alias(name, CHALLENGER)
