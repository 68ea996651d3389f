"""Where a task may read and write the data a config names: inside the data root, or a root the deployment allows.

When a config loads, its paths are checked lexically (:func:`mlops_provider.config.data_paths.data_path_problem`).
This is the authoritative check, made by the task after Airflow rendered the templates: a relative path is
resolved against ``[mlops] data_root``, symbolic links are followed (``os.path.realpath``), and the real
path must lie inside the real data root or a root in ``[mlops] allowed_data_roots``. ``s3://`` URIs are
compared by bucket and whole key segments. A refusal raises :class:`DataPathError`, which Airflow does not
retry, and whose message names the config field and the fix and never shows a byte of the target.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass

from airflow.sdk.exceptions import AirflowFailException

from mlops_provider.config.data_paths import is_s3, local_root, under_root

_FIX = (
    "use a path relative to [mlops] data_root (with no symbolic link out of it), or ask an Airflow admin to add "
    "the root to [mlops] allowed_data_roots"
)


class DataPathError(AirflowFailException):
    """A config path leads outside the data roots. Not retried: a retry would be refused the same way."""


@dataclass(frozen=True)
class DataRoots:
    """The deployment's data roots: ``data_root`` first, then the ``allowed_data_roots`` entries."""

    roots: tuple[str, ...]

    @classmethod
    def from_settings(cls) -> DataRoots:
        from mlops_provider import settings

        return cls(settings.allowed_data_roots())

    @property
    def data_root(self) -> str:
        return self.roots[0]

    def _refuse(self, field: str, value: str, why: str) -> DataPathError:
        extra = ", ".join(self.roots[1:]) or "none"
        return DataPathError(
            f"config field {field} {value!r} {why}, outside the data root {self.data_root} and the allowed data "
            f"roots ({extra}); a config may only reach data there. Nothing was read or written; {_FIX}"
        )

    def resolve(self, value: str, field: str) -> str:
        """The location config path ``value`` (of config ``field``, after rendering) names, checked.

        Returns the real local path (symbolic links resolved) or the ``s3://`` URI; raises
        :class:`DataPathError` when it lies outside every root.
        """
        if "\x00" in value:
            raise DataPathError(f"config field {field} {value!r} contains a NUL character; write the path without it")
        if "://" in value and not value.startswith(("s3://", "file://")):
            raise DataPathError(f"config field {field} {value!r} has an unsupported scheme; use a path or an s3:// URI")
        if is_s3(value):
            return self._s3(value, value, field)
        if value.startswith("file://"):
            path = value[len("file://") :]
            if not path.startswith("/"):
                raise DataPathError(
                    f"config field {field} {value!r} is not an absolute file:// URI; write file:///<absolute path> "
                    "or a path relative to [mlops] data_root"
                )
            return self._local(path, value, field)
        if value.startswith("/"):
            return self._local(value, value, field)
        norm = posixpath.normpath(value)
        if norm == ".." or norm.startswith("../"):
            raise self._refuse(field, value, "climbs out of the data root with '..'")
        if is_s3(self.data_root):
            return self._s3(self.data_root.rstrip("/") + ("" if norm == "." else "/" + norm), value, field)
        return self._local(os.path.join(local_root(self.data_root), norm), value, field)

    def _s3(self, uri: str, value: str, field: str) -> str:
        parts = uri[len("s3://") :].split("/")
        if any(p in (".", "..") for p in parts[1:]):
            raise DataPathError(
                f"config field {field} {value!r} has a '.' or '..' key segment; write the key out in full"
            )
        if any(under_root(uri, r) for r in self.roots if is_s3(r)):
            return uri
        raise self._refuse(field, value, f"is {uri}")

    def _local(self, path: str, value: str, field: str) -> str:
        real = os.path.realpath(path)
        if self.contains(real):
            return real
        shown = "is" if os.path.normpath(path) == real else "resolves (through a symbolic link) to"
        raise self._refuse(field, value, f"{shown} {real}")

    def contains(self, real: str) -> bool:
        """Whether the real local path ``real`` lies inside the real path of a local root."""
        for root in self.roots:
            if is_s3(root):
                continue
            base = os.path.realpath(local_root(root))
            if real == base or real.startswith(base.rstrip(os.sep) + os.sep):
                return True
        return False

    def check_file(self, uri: str, field: str) -> str:
        """A file found under a checked folder, by its real path; refused when it is a link out of the roots."""
        if is_s3(uri):
            return uri
        path = uri[len("file://") :] if uri.startswith("file://") else uri
        real = os.path.realpath(path)
        if self.contains(real):
            return real
        raise DataPathError(
            f"{path}, found under config field {field}, is a symbolic link to {real}, outside the data root "
            f"{self.data_root} and the allowed data roots ({', '.join(self.roots[1:]) or 'none'}); it was not "
            f"read. Remove the link or replace it with the data itself, or ask an Airflow admin to add the root "
            "to [mlops] allowed_data_roots"
        )
