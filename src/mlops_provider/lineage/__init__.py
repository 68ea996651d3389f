"""Lineage of registered model versions: what each was made from, its audit, and its replay.

* :mod:`~mlops_provider.lineage.tagging`: the lineage tags a version is registered with, and reading them back
  (re-exported here: ``lineage.tags``, ``lineage.record``, ``lineage.environment``, ...).
* :mod:`~mlops_provider.lineage.audit`: everything the registry holds about one version (``mlops lineage``).
* :mod:`~mlops_provider.lineage.checks`: the lineage compared with the world as it is now, before a replay.
* :mod:`~mlops_provider.lineage.replay`: retrain a version from its lineage and compare (``mlops reproduce``).

Operators import this package while Airflow parses DAGs: nothing heavy is imported here or in ``tagging``;
``audit``, ``checks`` and ``replay`` are imported by whoever needs them.
"""

from __future__ import annotations

from mlops_provider.lineage.tagging import (
    REQUIRED_TAGS,
    code_identity,
    environment,
    file_sha256,
    from_tags,
    git_commit,
    model_requirements,
    oversized,
    package_version,
    record,
    tags,
)

__all__ = [
    "REQUIRED_TAGS",
    "code_identity",
    "environment",
    "file_sha256",
    "from_tags",
    "git_commit",
    "model_requirements",
    "oversized",
    "package_version",
    "record",
    "tags",
]
