"""What a config's read left behind, kept between DAG parses: the validated config, its resolved YAML and hash.

Airflow parses the DAG files again every loop (``[dag_processor] min_file_process_interval``), and every
task process parses its DAG's file once more; each parse reads and validates every config of the folder. An
entry here spares the next parse the YAML reading (the safe reader's two passes, the node checks) and the
rendering of the resolved config, which are most of the per-config cost.

* The key is the sha256 of what the result depends on: the config file's path and bytes, the bytes of its
  folder's ``defaults.yaml``, the validation context (allowed estimator modules and data roots), and the
  code that reads and renders configs (the config package's files, PyYAML's and pydantic's versions). Any
  change to one of them is a miss; no clock or modification time decides.
* An entry is JSON, never pickle, and it is never trusted: on a hit the config is validated again with
  the deployment's context, so an entry cannot carry a config past the checks a fresh read makes.
* Only good configs are kept; a broken file is read in full every time, so its problems keep their lines.
* Writes are atomic (a temporary file renamed into place), so parsers in several processes can share the
  folder; a folder that cannot be written only turns the cache off. Entries unused for
  :data:`MAX_AGE_DAYS` are removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

MAX_AGE_DAYS = 7
_TOUCH_AFTER_S = 24 * 3600  # a hit refreshes its entry's modification time at most once a day
_FORMAT = 1


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """What the reading and rendering code is: the config package's files (names, sizes, modification times)
    and the versions of the libraries whose output an entry holds."""
    import pydantic
    import yaml

    package = Path(__file__).resolve().parent
    parts = [f"format {_FORMAT}", f"pyyaml {yaml.__version__}", f"pydantic {pydantic.VERSION}"]
    for source in sorted(package.glob("*.py")):
        info = source.stat()
        parts.append(f"{source.name} {info.st_size} {info.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def entry_key(file: Path, raw: bytes, defaults_raw: bytes | None, allowed: Iterable[str], roots: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for part in (
        code_fingerprint(),
        str(file),
        json.dumps([list(allowed), list(roots)]),
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(hashlib.sha256(raw).digest())
    digest.update(b"-" if defaults_raw is None else hashlib.sha256(defaults_raw).digest())
    return digest.hexdigest()


class ParseCache:
    """Entries in one folder, a JSON file per config read; ``None`` as the folder turns the cache off."""

    def __init__(self, folder: str | Path | None) -> None:
        self.folder = Path(folder) if folder else None
        self._usable = self.folder is not None
        self._wrote = False

    def get(self, key: str) -> dict[str, Any] | None:
        if self.folder is None:
            return None
        path = self.folder / f"{key}.json"
        try:
            with path.open("rb") as fh:
                entry = json.loads(fh.read())
            if time.time() - path.stat().st_mtime > _TOUCH_AFTER_S:
                os.utime(path)
        except (OSError, ValueError):
            return None
        return entry if isinstance(entry, dict) else None

    def put(self, key: str, entry: dict[str, Any]) -> None:
        if self.folder is None or not self._usable:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(entry, fh, separators=(",", ":"))
                os.replace(tmp, self.folder / f"{key}.json")
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            self._usable = False  # a read-only or full disk: parse without the cache
            return
        self._wrote = True

    def prune(self) -> None:
        """Remove entries (and stray temporary files) unused for :data:`MAX_AGE_DAYS`; only after a write."""
        if self.folder is None or not self._wrote:
            return
        cutoff = time.time() - MAX_AGE_DAYS * 24 * 3600
        try:
            with os.scandir(self.folder) as entries:
                for item in entries:
                    if item.name.endswith(".json") and item.stat().st_mtime < cutoff:
                        Path(item.path).unlink(missing_ok=True)
        except OSError:
            return
