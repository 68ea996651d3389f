"""YAML files -> :class:`PipelineConfig`, with errors a person can act on.

* YAML is read with the safe loader only.
* ``defaults.yaml`` in the same folder is deep-merged beneath every model file (mappings merge,
  everything else is replaced by the model file's value).
* Every problem names the file, the line, the field path, the bad value and what would be valid.
* Loading a folder never stops at the first broken file: good configs load, broken ones are reported.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from mlops_provider.config.schema import FieldProblem, PipelineConfig

DEFAULTS_FILE = "defaults.yaml"
CONFIG_SUFFIXES = (".yaml", ".yml")
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    path: str  # dotted field path, "" for the whole file
    message: str
    line: int | None = None
    source: str | None = None  # file the line refers to when it is not the config itself

    def render(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}" + (f" of {self.source}" if self.source else ""))
        if self.path:
            where.append(f"field '{self.path}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class ConfigError(ValueError):
    """One config file is invalid. ``str()`` gives a message that names the file and every problem."""

    def __init__(self, file: str | Path, problems: Sequence[Problem]) -> None:
        self.file = str(file)
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        n = len(self.problems)
        head = f"Invalid pipeline config {self.file} ({n} problem{'s' if n != 1 else ''}):"
        lines = [head, *(f"  - {p.render()}" for p in self.problems)]
        lines.append("  Nothing was built from this file; the other configs are unaffected. "
                     "Check it locally with: mlops validate " + self.file)
        return "\n".join(lines)


@dataclass
class LoadResult:
    configs: dict[str, PipelineConfig] = field(default_factory=dict)  # file -> config
    errors: list[ConfigError] = field(default_factory=list)


# -- YAML ------------------------------------------------------------------------------------------


def _read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Return (data, node tree) or raise ConfigError for unreadable / unparsable YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, [Problem("", f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    except OSError as exc:
        raise ConfigError(path, [Problem("", f"cannot read the file: {exc.strerror}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.constructor.ConstructorError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(path, [Problem(
            "", f"YAML tag not allowed ({exc.problem}); only plain YAML is read (safe loader), "
            "remove the '!' tag", line)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        detail = f"{exc.problem}" + (f" ({exc.context})" if exc.context else "")
        raise ConfigError(path, [Problem("", f"not valid YAML: {detail}; fix the syntax at this line", line)]) from None
    except yaml.YAMLError as exc:  # pragma: no cover - other yaml errors carry no mark
        raise ConfigError(path, [Problem("", f"not valid YAML: {exc}")]) from None
    return data, node


def _line_of(node: yaml.Node | None, loc: Loc) -> int | None:
    """Line (1-based) of the deepest node along ``loc`` that exists in the file."""
    if node is None:
        return None
    best = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key_node, value_node in node.value:
                if getattr(key_node, "value", None) == part:
                    best = key_node.start_mark.line + 1
                    node = value_node
                    break
            else:
                return best
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            best = node.start_mark.line + 1
        else:
            return best
    return best


def _has_path(data: Any, loc: Loc) -> bool:
    for part in loc:
        if isinstance(data, dict) and isinstance(part, str) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return False
    return True


def deep_merge(base: Any, override: Any) -> Any:
    """Mappings merge key by key; any other value in ``override`` replaces the one in ``base``."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    return override


# -- pydantic errors -> problems -------------------------------------------------------------------

_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _parse_path(path: str) -> Loc:
    return tuple(int(m.group(2)) if m.group(2) else m.group(1) for m in _PATH_PART.finditer(path))


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The pydantic model class that owns the last element of ``loc`` (for 'valid keys' hints)."""
    model: Any = PipelineConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", None)
        if not fields:
            return None
        info = next((f for n, f in fields.items() if n == part or f.alias == part), None)
        if info is None:
            return None
        model = _unwrap_model(info.annotation)
        if model is None:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unwrap_model(annotation: Any) -> Any:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _unwrap_model(arg)
        if found is not None:
            return found
    return None


def _problem_from_error(err: dict[str, Any]) -> tuple[Loc, str]:
    loc: Loc = tuple(p for p in err["loc"])
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    exc = ctx.get("error")
    if isinstance(exc, FieldProblem):
        return loc + _parse_path(exc.path), str(exc)
    if kind == "extra_forbidden":
        key = str(loc[-1])
        owner = _model_at(loc)
        valid = sorted((f.alias or n) for n, f in owner.model_fields.items()) if owner else []
        close = difflib.get_close_matches(key, valid, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        listing = f"valid keys here: {', '.join(valid)}" if valid else "this section takes no keys yet"
        return loc, f"unknown key {key!r}; {hint}{listing}"
    if kind == "missing":
        return loc, "required field is missing; add it"
    if kind == "literal_error":
        return loc, f"got {_short(value)}; expected one of {ctx.get('expected')}"
    if kind in {"float_parsing", "float_type", "int_parsing", "int_type", "int_from_float"}:
        want = "a whole number" if kind.startswith("int") else "a number"
        return loc, f"got {_short(value)}; expected {want}"
    if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values())) if ctx else "?"
        return loc, f"got {_short(value)}; must be {op} {bound}"
    if kind in {"string_type", "list_type", "dict_type", "bool_type", "bool_parsing", "model_type",
                "date_from_datetime_parsing", "date_parsing", "date_type"}:
        want = {"string_type": "a string", "list_type": "a list", "dict_type": "a mapping",
                "bool_type": "true or false", "bool_parsing": "true or false",
                "model_type": "a mapping of keys", "date_from_datetime_parsing": "a date like 2026-01-31",
                "date_parsing": "a date like 2026-01-31", "date_type": "a date like 2026-01-31"}[kind]
        return loc, f"got {_short(value)}; expected {want}"
    if kind == "string_pattern_mismatch":
        return loc, f"got {_short(value)}; expected a non-empty name without leading or trailing spaces"
    if kind in {"string_too_short", "too_short"}:
        return loc, f"got {_short(value)}; it must not be empty"
    if kind == "string_too_long":
        return loc, f"got a value longer than {ctx.get('max_length')} characters; shorten it"
    if kind == "value_error":
        return loc, str(exc) if exc is not None else err["msg"]
    return loc, f"got {_short(value)}; {err['msg']}"


# -- public API ------------------------------------------------------------------------------------


def _validate(
    data: Any,
    *,
    file: Path,
    node: yaml.Node | None,
    defaults_file: Path | None,
    defaults_node: yaml.Node | None,
    defaults_data: Any,
    allowed_estimator_modules: Iterable[str] | None,
) -> PipelineConfig:
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise ConfigError(file, [Problem("", f"the file is {kind}; a pipeline config is a mapping with at "
                                             "least the keys model, data and training")])
    if any(not isinstance(k, str) for k in data):
        bad = next(k for k in data if not isinstance(k, str))
        raise ConfigError(file, [Problem("", f"top-level key {bad!r} is not a string; quote it or rename it")])
    merged = deep_merge(defaults_data or {}, data)
    context = {"allowed_estimator_modules": tuple(allowed_estimator_modules or ()) or None}
    try:
        return PipelineConfig.model_validate(merged, context=context)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc, message = _problem_from_error(err)
            line: int | None
            source: str | None = None
            if _has_path(data, loc) or defaults_node is None or not _has_path(defaults_data, loc):
                line = _line_of(node, loc)
            else:
                line, source = _line_of(defaults_node, loc), str(defaults_file)
            problems.append(Problem(format_loc(loc), message, line, source))
        raise ConfigError(file, problems) from None


def _defaults_for(folder: Path) -> tuple[Path | None, Any, yaml.Node | None]:
    path = folder / DEFAULTS_FILE
    if not path.is_file():
        return None, None, None
    data, node = _read_yaml(path)
    if data is not None and not isinstance(data, dict):
        raise ConfigError(path, [Problem("", "defaults.yaml must be a mapping of config keys")])
    return path, data, node


def load_config(path: str | Path, *, allowed_estimator_modules: Iterable[str] | None = None) -> PipelineConfig:
    """Load one model config, merging ``defaults.yaml`` from its folder beneath it."""
    file = Path(path)
    defaults_file, defaults_data, defaults_node = _defaults_for(file.parent)
    data, node = _read_yaml(file)
    return _validate(
        data, file=file, node=node, defaults_file=defaults_file, defaults_node=defaults_node,
        defaults_data=defaults_data, allowed_estimator_modules=allowed_estimator_modules,
    )


def config_files(folder: str | Path) -> list[Path]:
    """Model config files of a folder, sorted by name; ``defaults.yaml`` and hidden files excluded."""
    root = Path(folder)
    if not root.is_dir():
        return []
    return sorted(
        p for p in root.iterdir()
        if p.is_file() and p.suffix in CONFIG_SUFFIXES and p.name != DEFAULTS_FILE and not p.name.startswith(".")
    )


_CACHE: dict[tuple[Any, ...], LoadResult] = {}


def load_folder(
    folder: str | Path, *, allowed_estimator_modules: Iterable[str] | None = None
) -> LoadResult:
    """Load every config of a folder. Never raises for a bad file: errors are collected.

    Two files declaring the same model is an error on the later file (by name); the first keeps its DAGs.
    The result is cached per process on the files' names, sizes and modification times, so the loader
    and the error-reporting DAG file share one pass when Airflow parses both in one process.
    """
    root = Path(folder)
    files = config_files(root)
    allowed = tuple(allowed_estimator_modules or ())
    stamp_files = [*files, root / DEFAULTS_FILE]
    key = (str(root.resolve()), allowed, tuple(
        (str(p), st.st_mtime_ns, st.st_size) for p in stamp_files if p.exists() for st in [p.stat()]
    ))
    if key in _CACHE:
        return _CACHE[key]
    result = LoadResult()
    try:
        defaults_file, defaults_data, defaults_node = _defaults_for(root)
    except ConfigError as exc:
        result.errors.append(exc)
        _CACHE.clear()
        _CACHE[key] = result
        return result  # every model depends on the defaults: report them, build nothing
    owners: dict[str, Path] = {}
    for file in files:
        try:
            data, node = _read_yaml(file)
            config = _validate(
                data, file=file, node=node, defaults_file=defaults_file, defaults_node=defaults_node,
                defaults_data=defaults_data, allowed_estimator_modules=allowed,
            )
        except ConfigError as exc:
            result.errors.append(exc)
            continue
        if config.model in owners:
            line = _line_of(node, ("model",))
            result.errors.append(ConfigError(file, [Problem(
                "model",
                f"model {config.model!r} is already defined in {owners[config.model]}; every model needs "
                "its own name (DAG ids and the registry name derive from it), rename one",
                line,
            )]))
            continue
        owners[config.model] = file
        result.configs[str(file)] = config
    _CACHE.clear()
    _CACHE[key] = result
    return result


def config_sha256(config: PipelineConfig) -> str:
    """Hash of the resolved config (defaults merged, aliases applied): what the model was trained with."""
    payload = json.dumps(config.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()
