"""The ``<model>_retention`` DAG's task: archive and delete old model versions, drop old prediction logs and
drift-check runs, as ``retention:`` of the config says (docs/retention.md).

The plan is made by :func:`mlops_provider.retention.plan_versions` from what the registry and Airflow report;
this operator gathers those facts and carries the plan out. Nothing heavy is imported at module level.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_provider.naming import (
    ARCHIVE_FOLDER,
    ARCHIVE_MANIFEST,
    ARCHIVED_TAG,
    MONITORING_EXPERIMENT_SUFFIX,
    VERSION_DAG_TAG,
    VERSION_RUN_TAG,
)
from mlops_provider.operators.base import MlopsBaseOperator
from mlops_provider.retention import VersionFacts, expired_partitions, expired_runs, plan_versions

if TYPE_CHECKING:
    from airflow.sdk import Context


def _removable(uri: str) -> bool:
    """Whether retention may remove files at ``uri``: a local folder, ``file://`` or ``s3://``."""
    return "://" not in uri or uri.startswith(("file://", "s3://"))


def _run_not_found(exc: Exception) -> bool:
    """Whether a DAG run state lookup failed because Airflow answered 404 (no such run), directly (in-process) or
    relayed by the task's supervisor."""
    if getattr(getattr(exc, "response", None), "status_code", None) == 404:
        return True
    detail = getattr(getattr(exc, "error", None), "detail", None)
    return isinstance(detail, dict) and detail.get("status_code") == 404


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    when = datetime.fromisoformat(str(text))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _mb(n: int | None) -> str:
    return "size unknown" if n is None else f"{n / 1e6:.2f} MB"


class RetentionOperator(MlopsBaseOperator):
    """Apply the model's retention policy once.

    * **versions**: each is kept (alias on it, made by a DAG run still queued or running or whose state cannot
      be looked up, among the newest ``keep_last``, or too new), archived (model files copied to the archive
      root under ``v<version>/``, the originals removed when they are in a local folder or on S3 and no other
      version uses them, tag ``mlops.archived``) or deleted (the archive copy removed, then the version);
    * **prediction logs**: partitions older than ``prediction_log_days`` are removed;
    * **drift reports**: runs of ``<model>-monitoring`` older than ``drift_report_days`` are deleted.

    :param plan_only: only log and return the plan (a dry run); default the DAG run's ``dry_run`` param, else False.
    :param as_of: act as at this ISO time (rehearse the policy); default the run's ``as_of`` param, else now.
    :return: the plan and what was done: ``versions`` (version, action, reason, bytes, age_days, note),
        ``prediction_logs`` and ``drift_runs`` (with bytes where known), ``dry_run``, ``as_of``, ``archive_root``.
    """

    template_fields: Sequence[str] = ()
    ui_color = "#e2e3e5"

    def __init__(self, *, plan_only: bool | None = None, as_of: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan_only = plan_only
        self.as_of = as_of

    # -- settings of this run -------------------------------------------------------------------------

    def requested(self, context: Context) -> tuple[bool, datetime]:
        from airflow.sdk.exceptions import AirflowFailException

        params = dict(context.get("params") or {})
        dry = self.plan_only if self.plan_only is not None else params.get("dry_run", False)
        raw = self.as_of or params.get("as_of")
        try:
            now = _parse_time(raw) or datetime.now(UTC)
        except ValueError:
            raise AirflowFailException(
                f"retention of {self.model_name}: as_of {raw!r} is not an ISO time; give one like "
                '"2026-12-01T00:00:00+00:00", or none for now. Nothing changed'
            ) from None
        return bool(dry), now

    def archive_root(self) -> str:
        from airflow.sdk.exceptions import AirflowFailException

        from mlops_provider.hooks.storage import join

        configured = self.pipeline.retention.archive_root
        if configured:
            return configured.rstrip("/")
        try:
            base = self.snapshot_root().removesuffix("/snapshots")
        except ValueError:
            raise AirflowFailException(
                f"retention of {self.model_name}: nowhere to keep archive copies; set retention.archive_root, the "
                f"[mlops] snapshot_root Airflow option, or artifact_root in the extra of MLflow connection "
                f"{self.mlflow_conn_id!r}. Nothing changed"
            ) from None
        return join(base, ARCHIVE_FOLDER, self.model_name)

    # -- facts ----------------------------------------------------------------------------------------

    @staticmethod
    def run_state(dag_id: str, run_id: str) -> tuple[str | None, str | None]:
        """(state, None) of an Airflow DAG run, ("not found", None) when Airflow has no such run (never made, or
        removed by ``airflow db clean``: it is not running), or (None, why it could not be looked up)."""
        try:
            from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

            state = RuntimeTaskInstance.get_dagrun_state(dag_id=dag_id, run_id=run_id)
        except Exception as exc:
            if _run_not_found(exc):
                return "not found", None
            return None, f"{type(exc).__name__}: {str(exc)[:200] or 'no answer'}"
        if state is None:
            return None, "Airflow answered without a state"
        return str(getattr(state, "value", state)), None

    def version_facts(self, registry: Any) -> tuple[list[VersionFacts], dict[str, str]]:
        """The facts of every version, and each version's model location."""
        name = self.model_name
        aliases = registry.aliased_versions(name)
        facts, locations = [], {}
        states: dict[tuple[str, str], tuple[str | None, str | None]] = {}
        for mv in registry.versions(name):
            version, tags = str(mv.version), dict(mv.tags or {})
            location = str(registry.client.get_model_version_download_uri(name, version))
            locations[version] = location
            archived = json.loads(tags[ARCHIVED_TAG]) if tags.get(ARCHIVED_TAG) else None
            dag_id, run_id = tags.get(VERSION_DAG_TAG), tags.get(VERSION_RUN_TAG)
            state, error = None, None
            if dag_id and run_id:
                if (dag_id, run_id) not in states:
                    states[(dag_id, run_id)] = self.run_state(dag_id, run_id)
                state, error = states[(dag_id, run_id)]
            if archived is not None:
                size = archived.get("bytes")
            else:
                size = self.storage.size(location) if _removable(location) else None
            facts.append(
                VersionFacts(
                    version=version,
                    created=datetime.fromtimestamp(int(mv.creation_timestamp) / 1000, UTC),
                    aliases=tuple(aliases.get(version, ())),
                    archived_at=_parse_time(archived.get("at")) if archived else None,
                    made_by=f"{dag_id}/{run_id}" if dag_id and run_id else None,
                    run_state=state,
                    run_lookup_error=error,
                    bytes=size,
                )
            )
        return facts, locations

    # -- moves ----------------------------------------------------------------------------------------

    def remove_tree(self, uri: str) -> None:
        """Remove every file under a local folder or S3 prefix; nothing there is fine."""
        from mlops_provider.hooks.storage import _local, is_s3

        if is_s3(uri):
            for key in self.storage.list_files(uri, ""):
                self.storage.delete(key)
            return
        path = _local(uri)
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()

    def copy_to_archive(self, location: str, dest: str) -> dict[str, Any]:
        """Copy a version's model files to ``dest`` (manifest last); an earlier complete copy is reused."""
        import tempfile

        import mlflow

        from mlops_provider.hooks.storage import join

        manifest_uri = join(dest, ARCHIVE_MANIFEST)
        if self.storage.exists(manifest_uri):
            return dict(json.loads(self.storage.read_bytes(manifest_uri)))
        self.mlflow_hook.get_conn()
        with tempfile.TemporaryDirectory(prefix="mlops-archive-") as tmp:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=tmp))
            files = sorted(p for p in local.rglob("*") if p.is_file()) if local.is_dir() else [local]
            total = 0
            names = []
            for path in files:
                rel = path.relative_to(local).as_posix() if local.is_dir() else path.name
                data = path.read_bytes()
                self.storage.write_bytes(join(dest, rel), data)
                total += len(data)
                names.append(rel)
        manifest = {"source": location, "files": names, "bytes": total}
        self.storage.write_bytes(manifest_uri, json.dumps(manifest, indent=1).encode())
        return manifest

    def archive(self, registry: Any, version: str, location: str, shared_with: list[str], now: datetime) -> str:
        """Archive one version; returns what happened to its originals."""
        from mlops_provider.hooks.storage import join

        dest = join(self.archive_root(), f"v{version}")
        manifest = self.copy_to_archive(location, dest)
        if shared_with:
            note = f"originals left in place: v{', v'.join(shared_with)} use the same files"
        elif not _removable(location):
            note = f"originals left in place: {location.split('://')[0]}:// is not a local folder or S3"
        else:
            self.remove_tree(location)
            note = "originals removed"
        record = {
            "at": now.isoformat(timespec="seconds"),
            "uri": dest,
            "bytes": manifest["bytes"],
            "source": location,
            "originals_removed": note == "originals removed",
        }
        registry.archive_version(self.model_name, version, record)
        return f"copied to {dest}; {note}"

    def delete(self, registry: Any, version: str) -> str:
        """Delete one archived version: its archive copy first, then the version (a retry finishes either)."""
        from mlops_provider.hooks.storage import join

        archived = registry.archived(self.model_name, version) or {}
        copy = str(archived.get("uri") or join(self.archive_root(), f"v{version}"))
        self.remove_tree(copy)
        registry.delete_version(self.model_name, version)
        return f"archive copy {copy} removed; version deleted"

    # -- prediction logs and drift reports --------------------------------------------------------------

    def predictions_root(self) -> str:
        from mlops_provider.datasets.reading import resolve_source
        from mlops_provider.paths import DataRoots

        return resolve_source(self.pipeline.predictions_root, DataRoots.from_settings(), "scoring.output")

    def partitions(self, root: str) -> list[str]:
        from mlops_provider.hooks.storage import _local, is_s3

        if is_s3(root):
            prefix = root.rstrip("/") + "/"
            return sorted({f[len(prefix) :].split("/", 1)[0] for f in self.storage.list_files(root, "")})
        path = _local(root)
        return sorted(p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else []

    def drift_runs(self, client: Any) -> list[tuple[str, datetime, str]]:
        experiment = client.get_experiment_by_name(self.model_name + MONITORING_EXPERIMENT_SUFFIX)
        if experiment is None:
            return []
        runs = client.search_runs([experiment.experiment_id], max_results=50_000)
        return [
            (r.info.run_id, datetime.fromtimestamp(int(r.info.start_time) / 1000, UTC), str(r.info.artifact_uri))
            for r in runs
        ]

    # -- the task -------------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        from mlops_provider.hooks.storage import join

        dry_run, now = self.requested(context)
        cfg = self.pipeline.retention
        registry = self.mlflow_hook.registry
        facts, locations = self.version_facts(registry)
        decisions = plan_versions(facts, cfg, now)
        going = {d.version for d in decisions if d.action == "delete"}
        archive_root = self.archive_root()
        verb = "would" if dry_run else "will"
        self.log.info(
            "Retention of %s as of %s%s: archive root %s",
            self.model_name,
            now.isoformat(timespec="seconds"),
            " (dry run: nothing changes)" if dry_run else "",
            archive_root,
        )

        versions = []
        for d in decisions:
            note = ""
            if d.action == "archive":
                shared = sorted(
                    (
                        v
                        for v, loc in locations.items()
                        if loc == locations[d.version] and v != d.version and v not in going
                    ),
                    key=int,
                )
                if dry_run:
                    note = "dry run"
                else:
                    note = self.archive(registry, d.version, locations[d.version], shared, now)
            elif d.action == "delete":
                note = "dry run" if dry_run else self.delete(registry, d.version)
            self.log.info(
                "v%s: %s %s (%s; %s)%s", d.version, verb, d.action, d.reason, _mb(d.bytes), f"; {note}" if note else ""
            )
            versions.append({**d.as_dict(), "note": note})

        root = self.predictions_root()
        old_days = expired_partitions(self.partitions(root), cfg.prediction_log_days, now)
        logs = []
        for part in old_days:
            uri = join(root, part)
            size = self.storage.size(uri)
            self.log.info("Prediction log %s: %s remove (%s)", uri, verb, _mb(size))
            if not dry_run:
                self.remove_tree(uri)
            logs.append({"partition": part, "uri": uri, "bytes": size})

        client = registry.client
        runs = self.drift_runs(client)
        started = {run_id: (when, uri) for run_id, when, uri in runs}
        drift = []
        for run_id in expired_runs([(r, w) for r, w, _ in runs], cfg.drift_report_days, now):
            when, uri = started[run_id]
            run_bytes = self.storage.size(uri) if _removable(uri) else None
            self.log.info("Drift-check run %s of %s: %s delete (%s)", run_id, f"{when:%Y-%m-%d}", verb, _mb(run_bytes))
            if not dry_run:
                client.delete_run(run_id)
            drift.append({"run_id": run_id, "started": when.isoformat(timespec="seconds"), "bytes": run_bytes})

        counts = {a: sum(1 for d in decisions if d.action == a) for a in ("keep", "archive", "delete")}
        would = "would be " if dry_run else ""
        self.log.info(
            "%s %s: %d kept, %d %sarchived, %d %sdeleted; %d prediction log day(s) and %d drift-check run(s) %sremoved",
            "Dry run of retention of" if dry_run else "Retention of",
            self.model_name,
            counts["keep"],
            counts["archive"],
            would,
            counts["delete"],
            would,
            len(logs),
            len(drift),
            would,
        )
        return {
            "dry_run": dry_run,
            "as_of": now.isoformat(timespec="seconds"),
            "archive_root": archive_root,
            "versions": versions,
            "prediction_logs": logs,
            "drift_runs": drift,
        }
