"""Data locations a config may name: only inside the deployment's data roots.

Relative paths stay under ``[mlops] data_root``; absolute paths, file:// and s3:// URIs must lie under
data_root or a root the deployment lists in ``[mlops] allowed_data_roots``. This is the lexical check made
when a config is loaded (no file system access); the task checks the real path again when it runs
(:mod:`mlops_provider.paths`), symlinks included.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence

from pydantic import ValidationInfo

from mlops_provider.config.rules import rule
from mlops_provider.config.schema_base import show

#: Config fields that name data locations.
DATA_PATH_FIELDS: tuple[str, ...] = (
    "data.source",
    "scoring.source",
    "scoring.output",
    "deploy.canary.gates.label_metric.labels_source",
)
_ROOTS_FIX = (
    "use a path relative to [mlops] data_root (e.g. 'churn/labeled'), or ask an Airflow admin to add the root "
    "to [mlops] allowed_data_roots"
)


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def _s3_parts(uri: str) -> tuple[str, list[str]]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, [p for p in key.split("/") if p]


def local_root(root: str) -> str:
    """A local root of the settings (folder or file:// URI) as a normalised absolute path."""
    path = root[len("file://") :] if root.startswith("file://") else root
    return os.path.normpath(os.path.abspath(path))


def under_root(value: str, root: str) -> bool:
    """Lexically: is ``value`` (an absolute path, file:// or s3:// URI) ``root`` or inside it?

    ``root`` is a local folder, a file:// URI or an s3:// prefix; an s3 prefix matches whole key segments
    (``s3://b/data`` holds ``s3://b/data/x`` but not ``s3://b/database``).
    """
    if is_s3(value) or is_s3(root):
        if not (is_s3(value) and is_s3(root)):
            return False
        (vb, vparts), (rb, rparts) = _s3_parts(value), _s3_parts(root)
        return vb == rb and ".." not in vparts and vparts[: len(rparts)] == rparts
    path = posixpath.normpath(value[len("file://") :] if value.startswith("file://") else value)
    base = local_root(root)
    return path == base or path.startswith(base.rstrip("/") + "/")


def data_path_problem(value: str, roots: Sequence[str]) -> str | None:
    """Why config path ``value`` may point outside the data roots ``roots`` (data_root first); None if it cannot."""
    if "\x00" in value:
        return f"{show(value)} contains a NUL character; write the path without it"
    listing = f"allowed here: {', '.join(roots)}" if roots else "no data roots were given to this check"
    outside = (
        f"{show(value)} is outside the data roots ({listing}); an absolute path, a file:// or an s3:// URI must "
        f"lie under [mlops] data_root or a root listed in [mlops] allowed_data_roots; {_ROOTS_FIX}"
    )
    if is_s3(value):
        bucket, parts = _s3_parts(value)
        if not bucket:
            return f"{show(value)} names no bucket; write s3://<bucket>/<prefix>"
        if ".." in parts or "." in parts:
            return f"{show(value)} has a '.' or '..' segment; write the key out in full, without them"
        return None if any(under_root(value, r) for r in roots) else outside
    if value.startswith("file://"):
        if not value[len("file://") :].startswith("/"):
            return (
                f"{show(value)} is not an absolute file:// URI; write file:///<absolute path>, or better "
                "a path relative to [mlops] data_root"
            )
        return None if any(under_root(value, r) for r in roots if not is_s3(r)) else outside
    if value.startswith("/"):
        return None if any(under_root(value, r) for r in roots if not is_s3(r)) else outside
    norm = posixpath.normpath(value)
    if norm == ".." or norm.startswith("../"):
        return (
            f"{show(value)} climbs out of [mlops] data_root with '..'"
            + (f" (it normalises to {show(norm)})" if norm != value else "")
            + "; a relative path must stay inside data_root; use a path inside data_root, or ask an Airflow admin to "
            "add the other folder to [mlops] allowed_data_roots and write it as an absolute path"
        )
    return None


@rule(
    ", ".join(DATA_PATH_FIELDS),
    "a local path, a `file://` URI or an `s3://` URI; other schemes are rejected. A relative path is taken "
    "from `[mlops] data_root` and must stay inside it (`..` may not climb above it); an absolute path, a "
    "`file://` or an `s3://` URI must lie under `data_root` or a root listed in `[mlops] allowed_data_roots`. "
    "When the task runs, the real path (symbolic links followed) is checked again.",
)
def check_data_path(value: str | None, info: ValidationInfo) -> str | None:
    if value is None:
        return None
    roots = tuple((info.context or {}).get("allowed_data_roots") or ())
    problem = data_path_problem(value, roots)
    if problem is not None:
        raise ValueError(problem)
    return value
