"""The retention moves of :class:`~mlops_provider.hooks.registry.ModelRegistry` (its base class here): the
versions of a model with their aliases, the archive mark, deletion. The ``<model>_retention`` DAG uses them.

Heavy imports (mlflow) happen inside functions: hooks are imported while DAGs are parsed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mlops_provider.naming import ARCHIVED_TAG


def _missing(exc: Exception) -> bool:
    return getattr(exc, "error_code", None) in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


class RetentionMoves:
    """Versions, aliases per version, archive mark and deletion; mixed into ``ModelRegistry``."""

    if TYPE_CHECKING:
        client: Any

    def versions(self, name: str) -> list[Any]:
        """Every version of ``name`` (MLflow ``ModelVersion`` objects); none when the model does not exist."""
        return list(self.client.search_model_versions(f"name = '{name}'", max_results=200_000))

    def aliased_versions(self, name: str) -> dict[str, list[str]]:
        """Version -> the aliases pointing at it (every alias, ours or set by hand), sorted."""
        from mlflow.exceptions import MlflowException

        try:
            aliases = self.client.get_registered_model(name).aliases or {}
        except MlflowException as exc:
            if _missing(exc):
                return {}
            raise  # a store that cannot answer must never read as "no alias"
        found: dict[str, list[str]] = {}
        for alias, version in aliases.items():
            found.setdefault(str(version), []).append(alias)
        return {v: sorted(a) for v, a in found.items()}

    def archived(self, name: str, version: str) -> dict[str, Any] | None:
        """The archive record of a version (``mlops.archived``), None when it is not archived."""
        text = (self.client.get_model_version(name, str(version)).tags or {}).get(ARCHIVED_TAG)
        return dict(json.loads(text)) if text else None

    def archive_version(self, name: str, version: str, record: dict[str, Any]) -> None:
        """Mark a version archived: tag ``mlops.archived`` = the record (at, uri, bytes, ...)."""
        self.client.set_model_version_tag(name, str(version), ARCHIVED_TAG, json.dumps(record, sort_keys=True))

    def delete_version(self, name: str, version: str) -> bool:
        """Delete a version from the registry; False when it was already gone."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.delete_model_version(name, str(version))
        except MlflowException as exc:
            if _missing(exc):
                return False
            raise
        return True
