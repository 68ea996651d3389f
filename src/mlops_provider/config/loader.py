"""YAML files -> :class:`PipelineConfig`, with errors a person can act on.

* YAML is read with the safe loader only.
* ``defaults.yaml`` in the same folder is deep-merged beneath every model file (mappings merge,
  everything else is replaced by the model file's value).
* Every problem names the file, the line, the field path, the bad value and what would be valid.
* Loading a folder never stops at the first broken file: good configs load, broken ones are reported.

Reading the YAML safely is :mod:`~mlops_provider.config.yamlsafe`'s job; turning pydantic's errors into
problems is :mod:`~mlops_provider.config.errors`'; finding their lines is :mod:`~mlops_provider.config.locate`'.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlops_provider.config.errors import problem_from_error, short
from mlops_provider.config.locate import Defaults, line_of, place
from mlops_provider.config.parse_cache import ParseCache, entry_key
from mlops_provider.config.problems import DEFAULTS_FILE, ConfigError, Loc, Problem, format_loc, parse_path
from mlops_provider.config.schema import PipelineConfig, find_templates
from mlops_provider.config.yamlsafe import MAX_DEPTH, MAX_FILE_BYTES, MAX_VALUES, read_bytes, read_yaml

MAX_PROBLEMS = 50  # reported per file; a file with more is listed as far as that
CONFIG_SUFFIXES = (".yaml", ".yml")


@dataclass
class LoadResult:
    configs: dict[str, PipelineConfig] = field(default_factory=dict)  # file -> config
    errors: list[ConfigError] = field(default_factory=list)


def deep_merge(base: Any, override: Any) -> Any:
    """Mappings merge key by key; any other value in ``override`` replaces the one in ``base``."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    return override


# -- public API ------------------------------------------------------------------------------------


def _validate(
    data: Any,
    *,
    file: Path,
    node: yaml.Node | None,
    defaults: Defaults,
    allowed_estimator_modules: Iterable[str] | None,
    allowed_data_roots: Iterable[str] | None = None,
) -> PipelineConfig:
    if not isinstance(data, dict):
        raise ConfigError(file, [_not_a_mapping(data, node)])
    if any(not isinstance(k, str) for k in data):  # pragma: no cover - the YAML reader reports these first
        bad = next(k for k in data if not isinstance(k, str))
        raise ConfigError(file, [Problem("", f"key {bad!r} is not text; quote it or rename it", 1)])
    merged = deep_merge(defaults[1] or {}, data)
    try:
        return PipelineConfig.model_validate(merged, context=_context(allowed_estimator_modules, allowed_data_roots))
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # each costs a walk of the file's nodes: bound the work
        problems = [place(*problem_from_error(err), data, node, defaults) for err in errors[:MAX_PROBLEMS]]
        if len(errors) > MAX_PROBLEMS:
            problems.append(
                Problem("", f"... and {len(errors) - MAX_PROBLEMS} more problems; fix these first and validate again")
            )
        raise ConfigError(file, problems) from None


def _context(allowed: Iterable[str] | None, roots: Iterable[str] | None) -> dict[str, Any]:
    return {"allowed_estimator_modules": tuple(allowed or ()) or None, "allowed_data_roots": tuple(roots or ())}


def _not_a_mapping(data: Any, node: yaml.Node | None) -> Problem:
    need = (
        "a pipeline config is a mapping of keys, at least model, data and training (run 'mlops schema' for all of them)"
    )
    if data is None:
        return Problem("", f"the file is empty (or holds only comments); {need}", 1)
    kind = {str: "text", int: "a number", float: "a number", bool: "a boolean", list: "a list"}.get(
        type(data), type(data).__name__
    )
    return Problem(
        "",
        f"the file holds {kind} ({short(data)}) instead of a mapping; {need}",
        line_of(node, ()) if node is not None else 1,
    )


def defaults_for(folder: Path) -> Defaults:
    """The folder's defaults.yaml as (file, data, node tree), all None without one; ConfigError when it is bad."""
    path = folder / DEFAULTS_FILE
    if not path.is_file():
        return None, None, None
    data, node = read_yaml(path)
    if data is not None and not isinstance(data, dict):
        problem = _not_a_mapping(data, node)
        raise ConfigError(
            path,
            [
                Problem(
                    "",
                    f"{DEFAULTS_FILE} must be a mapping of config keys merged "
                    f"beneath every model file; {problem.message}",
                    problem.line,
                )
            ],
        )
    # A template in defaults.yaml is an error even where every model file overrides it: it is data too.
    templates = [Problem(where, message, line_of(node, parse_path(where))) for where, message in find_templates(data)]
    if templates:
        raise ConfigError(path, templates)
    return path, data, node


def load_config(
    path: str | Path,
    *,
    allowed_estimator_modules: Iterable[str] | None = None,
    allowed_data_roots: Iterable[str] | None = None,
) -> PipelineConfig:
    """Load one model config, merging ``defaults.yaml`` from its folder beneath it.

    ``allowed_data_roots`` are the roots absolute paths and URIs of the config may lie under: the
    deployment's ``[mlops] data_root`` and ``allowed_data_roots`` (``settings.allowed_data_roots()``).
    Without them only paths relative to the data root are valid.
    """
    file = Path(path)
    config, _ = _load_one(file, defaults_for(file.parent), allowed_estimator_modules, allowed_data_roots)
    return config


def _load_one(
    file: Path,
    defaults: Defaults,
    allowed: Iterable[str] | None,
    allowed_data_roots: Iterable[str] | None = None,
) -> tuple[PipelineConfig, yaml.Node | None]:
    """Read and validate one model file over its folder's defaults; returns the config and its YAML nodes."""
    data, node = read_yaml(file)
    config = _validate(
        data,
        file=file,
        node=node,
        defaults=defaults,
        allowed_estimator_modules=allowed,
        allowed_data_roots=allowed_data_roots,
    )
    return config, node


def _load_cached(
    file: Path,
    defaults: Defaults,
    defaults_raw: bytes | None,
    allowed: tuple[str, ...],
    roots: tuple[str, ...],
    cache: ParseCache,
) -> tuple[PipelineConfig, int | None]:
    """:func:`_load_one` through the parse cache; returns the config and the line of its ``model`` key."""
    raw = read_bytes(file)
    key = entry_key(file, raw, defaults_raw, allowed, roots)
    entry = cache.get(key)
    if entry is not None:
        try:
            # validated again: an entry saves the reading, never the checks
            config = PipelineConfig.model_validate(entry["config"], context=_context(allowed, roots))
            _remember(config, Resolved(str(entry["yaml"]), str(entry["sha256"])))
            line = entry.get("model_line")
            return config, line if isinstance(line, int) else None
        except (ValidationError, KeyError, TypeError):
            pass  # an entry this code cannot use: read the file
    data, node = read_yaml(file, raw)
    config = _validate(
        data, file=file, node=node, defaults=defaults, allowed_estimator_modules=allowed, allowed_data_roots=roots
    )
    dump, resolved = _render(config)
    line = line_of(node, ("model",))
    cache.put(key, {"config": dump, "yaml": resolved.yaml, "sha256": resolved.sha256, "model_line": line})
    return config, line


def config_files(folder: str | Path) -> list[Path]:
    """Model config files of a folder, sorted by name; ``defaults.yaml`` and hidden files excluded."""
    root = Path(folder)
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.iterdir()
        if p.is_file() and p.suffix in CONFIG_SUFFIXES and p.name != DEFAULTS_FILE and not p.name.startswith(".")
    )


_CACHE: dict[tuple[Any, ...], LoadResult] = {}


def load_folder(
    folder: str | Path,
    *,
    allowed_estimator_modules: Iterable[str] | None = None,
    allowed_data_roots: Iterable[str] | None = None,
    cache_dir: str | Path | None = None,
) -> LoadResult:
    """Load every config of a folder. Never raises for a bad file: errors are collected.

    Two files declaring the same model is an error on the later file (by name); the first keeps its DAGs.
    The result is cached per process on the files' names, sizes and modification times, so the loader
    and the error-reporting DAG file share one pass when Airflow parses both in one process.
    ``cache_dir``: where good configs' reads are kept between processes (:mod:`~.parse_cache`); None: nowhere.
    """
    root = Path(folder)
    files = config_files(root)
    allowed = tuple(allowed_estimator_modules or ())
    roots = tuple(allowed_data_roots or ())
    stamp_files = [*files, root / DEFAULTS_FILE]
    key = (
        str(root.resolve()),
        allowed,
        roots,
        tuple(
            (str(p), os.path.realpath(p), st.st_mtime_ns, st.st_size)
            for p in stamp_files
            if p.exists()
            for st in [p.stat()]
        ),
    )
    if key in _CACHE:
        return _CACHE[key]
    result = LoadResult()
    cache = ParseCache(cache_dir)
    try:
        defaults = defaults_for(root)
        defaults_raw = read_bytes(root / DEFAULTS_FILE) if defaults[0] is not None else None
    except ConfigError as exc:
        result.errors.append(exc)
        _CACHE.clear()
        _CACHE[key] = result
        return result  # every model depends on the defaults: report them, build nothing
    owners: dict[str, Path] = {}
    for file in files:
        try:
            config, line = _load_cached(file, defaults, defaults_raw, allowed, roots, cache)
        except ConfigError as exc:
            result.errors.append(exc)
            continue
        if config.model in owners:
            result.errors.append(
                ConfigError(
                    file,
                    [
                        Problem(
                            "model",
                            f"model {config.model!r} is already defined in {owners[config.model]}; every model needs "
                            "its own name (DAG ids and the registry name derive from it), rename one",
                            line,
                        )
                    ],
                )
            )
            continue
        owners[config.model] = file
        result.configs[str(file)] = config
    cache.prune()
    _CACHE.clear()
    _CACHE[key] = result
    return result


@dataclass(frozen=True)
class Resolved:
    """A config as it resolved (defaults merged, aliases applied): the YAML every DAG of the model shows in
    its docs, and :func:`config_sha256`."""

    yaml: str
    sha256: str


#: id(config) -> (config, Resolved): rendered once per config object; the config is kept beside it, so an id
#: reused by a later object never matches (configs are frozen).
_RESOLVED: dict[int, tuple[PipelineConfig, Resolved]] = {}
_RESOLVED_MAX = 4096


def _remember(config: PipelineConfig, resolved: Resolved) -> None:
    if len(_RESOLVED) >= _RESOLVED_MAX:
        _RESOLVED.clear()
    _RESOLVED[id(config)] = (config, resolved)


def _render(config: PipelineConfig) -> tuple[dict[str, Any], Resolved]:
    dump = config.model_dump(mode="json", by_alias=True)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter where PyYAML has it
    resolved = Resolved(yaml.dump(dump, Dumper=dumper, sort_keys=False, width=100), dump_sha256(dump))
    _remember(config, resolved)
    return dump, resolved


def resolved(config: PipelineConfig) -> Resolved:
    """The config's resolved YAML and hash; from the parse cache when the loader read it from there."""
    hit = _RESOLVED.get(id(config))
    if hit is not None and hit[0] is config:
        return hit[1]
    return _render(config)[1]


def config_sha256(config: PipelineConfig) -> str:
    """Hash of the resolved config (defaults merged, aliases applied): what the model was trained with."""
    return dump_sha256(config.model_dump(mode="json", by_alias=True))


def dump_sha256(dump: dict[str, Any]) -> str:
    """:func:`config_sha256` of a config already dumped with ``model_dump(mode="json", by_alias=True)``."""
    payload = json.dumps(dump, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


__all__ = [
    "CONFIG_SUFFIXES",
    "DEFAULTS_FILE",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_PROBLEMS",
    "MAX_VALUES",
    "ConfigError",
    "LoadResult",
    "Loc",
    "Problem",
    "Resolved",
    "config_files",
    "config_sha256",
    "deep_merge",
    "defaults_for",
    "dump_sha256",
    "format_loc",
    "load_config",
    "load_folder",
    "resolved",
]
