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
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from mlops_provider.config.schema import FieldProblem, PipelineConfig, find_templates

DEFAULTS_FILE = "defaults.yaml"
MAX_PROBLEMS = 50  # reported per file; a file with more is listed as far as that
CONFIG_SUFFIXES = (".yaml", ".yml")
Loc = tuple[str | int, ...]

#: Limits that keep one file from making every parse slow (a config is read on every DAG parse). A real
#: config is a few kilobytes, a few hundred values and six levels deep.
MAX_FILE_BYTES = 1024 * 1024
#: Values (scalars, lists and mappings, keys included) counted as they would be with every alias expanded.
MAX_VALUES = 10_000
MAX_DEPTH = 64


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
        if Path(self.file).name == DEFAULTS_FILE:
            effect = "It is merged beneath every model config, so no model's DAGs were built until it is fixed."
        else:
            effect = "Nothing was built from this file; the other configs are unaffected."
        lines.append(f"  {effect} Check it locally with: mlops validate {self.file}")
        return "\n".join(lines)


@dataclass
class LoadResult:
    configs: dict[str, PipelineConfig] = field(default_factory=dict)  # file -> config
    errors: list[ConfigError] = field(default_factory=list)


# -- YAML ------------------------------------------------------------------------------------------

_YAML_TAG = "tag:yaml.org,2002:"
_STR_TAG = _YAML_TAG + "str"
_MERGE_TAG = _YAML_TAG + "merge"


class _BadValue(Exception):
    """A scalar whose (explicit) tag could not build a value, with the node at fault."""

    def __init__(self, node: yaml.Node, error: Exception) -> None:
        super().__init__(str(error))
        self.node = node


#: libyaml's parser when PyYAML was built with it (it is in the wheels): configs are read on every DAG parse.
_SafeBase: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeBase):  # type: ignore[misc, valid-type]
    """The safe loader, minus implicit timestamps: ``2026-02-30`` stays text for pydantic to report.

    Without this, an impossible date crashes the YAML constructor with a bare ``ValueError`` that names
    neither the line nor the field, and a date-looking ``description`` would turn into a date object.
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _YAML_TAG + "timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (yaml.YAMLError, _BadValue):
            raise
        except Exception as exc:
            raise _BadValue(node, exc) from None


#: The only tags a config may hold: plain values. The safe loader also builds bytes (!!binary), sets
#: (!!set), ordered pairs and timestamps; none is config data, and bytes or a set would carry text past the
#: checks that read strings (a base64 ``!!binary`` hides a template from the template check).
_SAFE_TAGS = frozenset(_YAML_TAG + kind for kind in ("str", "int", "float", "bool", "null", "seq", "map", "merge"))

#: Extra advice for the YAML parser's terser problems.
_YAML_HINTS = {
    "mapping values are not allowed": "a 'key: value' sits where a plain value belongs; check the "
    "indentation of this line and quote values that contain ': '",
    "found character '\\t' that cannot start any token": "YAML indents with spaces, never tabs",
    "found undefined alias": "an *alias names an &anchor that is not defined above it",
    "expected a single document in the stream": "a config file holds one document; remove the '---' "
    "separators after the first",
}


def _show_tag(tag: str) -> str:
    return "!!" + tag[len(_YAML_TAG) :] if tag.startswith(_YAML_TAG) else tag


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _outside_folder(path: Path) -> Problem | None:
    """A config that is a symbolic link out of its folder is never read (nor is its content shown)."""
    folder = os.path.realpath(path.parent)
    real = os.path.realpath(path)
    if real == folder or real.startswith(folder.rstrip(os.sep) + os.sep):
        return None
    return Problem(
        "",
        f"the file is a symbolic link to {real}, outside the configs folder {folder}; configs are read only from "
        "inside their folder, so the link was not followed and nothing of its target was read; copy the config "
        "into the folder instead of linking to it",
    )


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, refusing links out of its folder, anything but a regular file, and oversized files."""
    outside = _outside_folder(path)
    if outside is not None:
        raise ConfigError(path, [outside])
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(path, [Problem("", "not a regular file; a config is a YAML text file")])
        if info.st_size > MAX_FILE_BYTES:
            raw = b""
        else:
            with path.open("rb") as fh:
                raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(
            path, [Problem("", f"cannot read the file: {exc.strerror}; check the path and its permissions")]
        ) from None
    if info.st_size > MAX_FILE_BYTES or len(raw) > MAX_FILE_BYTES:
        size = max(info.st_size, len(raw))
        raise ConfigError(
            path,
            [
                Problem(
                    "",
                    f"the file is {size / 1024 / 1024:.1f} MiB; a config may be at most {MAX_FILE_BYTES // 1024} KiB "
                    "(a real one is a few KiB); remove what does not belong in it, or move values several models "
                    f"share to {DEFAULTS_FILE}",
                )
            ],
        )
    return raw


def _structure_problem(text: str) -> Problem | None:
    """Bound the node tree before it is built: its nesting depth, and its size with every alias expanded.

    Works on the parser's events, so nothing is expanded and nothing recurses: an anchor's expanded size is
    known when its value ends, and each alias adds that size again (a "billion laughs" file is caught after
    a few dozen events). An alias inside the value of its own anchor would make the data recursive.
    Syntax errors are left to the composer, which reports them with their context.
    """
    sizes: dict[str, int] = {}  # anchor -> values in its (expanded) value
    lines: dict[str, int] = {}  # anchor -> line it is defined on
    # One frame per open collection: [anchor, values counted before it, is mapping, a key awaits its value,
    # current key or index]
    frames: list[list[Any]] = []
    total = 0

    def loc() -> Loc:
        return tuple(f[4] for f in frames if f[4] is not None and f[4] != "<<")

    def place() -> None:
        """Advance the innermost collection's position for a node that starts now."""
        if not frames:
            return
        frame = frames[-1]
        if frame[2]:
            frame[3] = not frame[3]
        else:
            frame[4] = 0 if frame[4] is None else frame[4] + 1

    loader = _Loader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            line = int(event.start_mark.line) + 1
            if isinstance(event, yaml.NodeEvent) and not isinstance(event, yaml.AliasEvent):
                is_key = bool(frames and frames[-1][2] and not frames[-1][3])
                place()
                if is_key:
                    frames[-1][4] = event.value if isinstance(event, yaml.ScalarEvent) else "?"
                total += 1
                if event.anchor:
                    lines[event.anchor] = line
                if isinstance(event, yaml.ScalarEvent):
                    if event.anchor:
                        sizes[event.anchor] = 1
                else:
                    sizes.pop(event.anchor or "", None)
                    frames.append([event.anchor, total - 1, isinstance(event, yaml.MappingStartEvent), False, None])
                    if len(frames) > MAX_DEPTH:
                        keys = loc()
                        field = keys[: next((i for i, k in enumerate(keys) if isinstance(k, int)), len(keys))]
                        return Problem(
                            format_loc(field[:8]),
                            f"values are nested more than {MAX_DEPTH} levels deep; a config is a few levels deep, "
                            "flatten this value",
                            line,
                        )
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, before, *_ = frames.pop()
                if anchor:
                    sizes[anchor] = total - before
            elif isinstance(event, yaml.AliasEvent):
                is_key = bool(frames and frames[-1][2] and not frames[-1][3])
                place()
                if is_key:
                    frames[-1][4] = "?"
                anchor = str(event.anchor)
                if any(f[0] == anchor for f in frames):
                    return Problem(
                        format_loc(loc()),
                        f"the alias *{anchor} is inside the value of its own anchor &{anchor} (line "
                        f"{lines[anchor]}), which would make the value infinitely deep; write the value out",
                        line,
                    )
                size = sizes.get(anchor)
                if size is None:
                    continue  # an undefined alias: the composer reports it
                total += size
                if total > MAX_VALUES:
                    return Problem(
                        format_loc(loc()),
                        f"the alias *{anchor} repeats the {size:,} values of &{anchor} (line "
                        f"{lines[anchor]}) and takes the file past {MAX_VALUES:,} values once aliases are "
                        "expanded (aliases of values that hold aliases multiply); write the values out, or move "
                        f"values several models share to {DEFAULTS_FILE}",
                        line,
                    )
            if total > MAX_VALUES:
                return Problem(
                    format_loc(loc()),
                    f"the file holds more than {MAX_VALUES:,} values; a config has a few hundred: remove what "
                    f"does not belong in it, or move values several models share to {DEFAULTS_FILE}",
                    line,
                )
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    return None


def _read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Return (data, node tree) or raise ConfigError for unreadable / unparsable / unsafe YAML."""
    raw = _read_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, [_not_utf8(raw, exc)]) from None
    structure = _structure_problem(text)
    if structure is not None:
        raise ConfigError(path, [structure])
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            problems = _check_nodes(node)
            if problems:
                raise ConfigError(path, problems)
        data = loader.construct_document(node) if node is not None else None
    except _BadValue as exc:
        bad = exc.node
        raise ConfigError(
            path,
            [
                Problem(
                    format_loc(_loc_of(node, bad)),
                    f"{getattr(bad, 'value', '')!r} cannot be read as {_show_tag(bad.tag)} ({exc}); remove the tag "
                    "or write a value of that type",
                    _line(bad),
                )
            ],
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        detail = str(exc.problem or "unexpected content")
        if exc.context:
            started = exc.context_mark
            at = ""
            if started is not None and started.line != getattr(mark, "line", -1):
                at = f" started at line {started.line + 1}"
            detail += f" ({exc.context}{at})"
        where = f" at column {mark.column + 1}" if mark else ""
        hint = next((h for k, h in _YAML_HINTS.items() if k in str(exc.problem)), "")
        raise ConfigError(
            path,
            [
                Problem(
                    "",
                    f"not valid YAML{where}: {detail}; " + (f"{hint}; " if hint else "") + "fix the syntax there",
                    line,
                )
            ],
        ) from None
    except yaml.YAMLError as exc:  # pragma: no cover - other yaml errors carry no mark
        raise ConfigError(path, [Problem("", f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    return data, node


def _not_utf8(raw: bytes, exc: UnicodeDecodeError) -> Problem:
    line = raw.count(b"\n", 0, exc.start) + 1
    column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
    loc: Loc = ()
    text = raw.decode("utf-8", errors="replace")
    try:  # name the field the bad bytes sit in, when the rest of the file parses (and is of a sane size)
        if _structure_problem(text) is None:
            node = yaml.compose(text, Loader=_Loader)
            loc = _loc_at_line(node, line - 1) if node is not None else ()
    except yaml.YAMLError:
        pass
    bad = " ".join(f"0x{b:02x}" for b in raw[exc.start : exc.end])
    return Problem(
        format_loc(loc),
        f"the file is not UTF-8 text: byte {bad} at column {column} cannot be decoded ({exc.reason}); "
        "save the file with the UTF-8 encoding",
        line,
    )


def _check_nodes(root: yaml.Node) -> list[Problem]:
    """Problems the plain YAML loaders let through: unsafe tags, duplicate keys, keys that are not text."""
    problems: list[Problem] = []
    seen_nodes: set[int] = set()

    def walk(node: yaml.Node, loc: Loc) -> None:
        if node.tag not in _SAFE_TAGS:
            problems.append(
                Problem(
                    format_loc(loc),
                    f"YAML tag {_show_tag(node.tag)!r} is not allowed: configs are read with the safe loader, "
                    "which builds only plain values (text, numbers, booleans, lists, mappings); remove the tag "
                    "and write a plain value",
                    _line(node),
                )
            )
            return
        if id(node) in seen_nodes:  # an alias of a node already checked
            return
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key, value in node.value:
                if key.tag == _MERGE_TAG:
                    walk(value, loc)
                    continue
                if not isinstance(key, yaml.ScalarNode) or key.tag != _STR_TAG:
                    problems.append(_non_string_key(key, loc))
                    continue
                if key.value in first_line:
                    problems.append(
                        Problem(
                            format_loc((*loc, key.value)),
                            f"key {key.value!r} appears twice in this mapping (lines {first_line[key.value]} and "
                            f"{_line(key)}); YAML would silently keep only the last value, remove one of them",
                            _line(key),
                        )
                    )
                    continue
                first_line[key.value] = _line(key)
                walk(value, (*loc, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*loc, i))

    walk(root, ())
    return problems


def _non_string_key(key: yaml.Node, loc: Loc) -> Problem:
    if isinstance(key, yaml.ScalarNode):
        kind = {
            _YAML_TAG + "int": "a number",
            _YAML_TAG + "float": "a number",
            _YAML_TAG + "bool": "a boolean (YAML reads yes, no, on, off, true and false as booleans)",
            _YAML_TAG + "null": "null",
        }.get(key.tag, _show_tag(key.tag))
        message = f'key {key.value!r} is read as {kind}, not as a name; quote it ("{key.value}") or rename it'
        path = format_loc((*loc, key.value))
    else:
        message = "a list or mapping is used as a key; keys must be plain names"
        path = format_loc(loc)
    owner = _model_at((*loc, "_"))
    if owner is not None:
        message += f"; valid keys here: {', '.join(_keys_of(owner))}"
    return Problem(path, message, _line(key))


def _loc_of(root: yaml.Node | None, target: yaml.Node) -> Loc:
    """Path of ``target`` inside the node tree (found by identity), () when not found."""

    def search(node: yaml.Node, loc: Loc) -> Loc | None:
        if node is target:
            return loc
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                found = search(value, (*loc, str(getattr(key, "value", "?"))))
                if found is not None:
                    return found
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                found = search(item, (*loc, i))
                if found is not None:
                    return found
        return None

    return (search(root, ()) if root is not None else None) or ()


def _loc_at_line(node: yaml.Node, line0: int) -> Loc:
    """Path of the deepest value that spans the 0-based line ``line0``."""
    loc: Loc = ()
    while True:
        if isinstance(node, yaml.MappingNode):
            before = [(k, v) for k, v in node.value if k.start_mark.line <= line0]
            if not before or before[-1][1].end_mark.line < line0:
                return loc
            key, node = before[-1]
            loc = (*loc, str(getattr(key, "value", "?")))
        elif isinstance(node, yaml.SequenceNode):
            items = [(i, v) for i, v in enumerate(node.value) if v.start_mark.line <= line0]
            if not items or items[-1][1].end_mark.line < line0:
                return loc
            i, node = items[-1]
            loc = (*loc, i)
        else:
            return loc


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


def _keys_of(model: type[BaseModel]) -> list[str]:
    return sorted((f.alias or n) for n, f in model.model_fields.items())


def _field_at(loc: Loc) -> FieldInfo | None:
    """The pydantic field at ``loc`` (None for list items, mapping entries and unknown keys)."""
    owner = _model_at(loc)
    if owner is None or not loc or not isinstance(loc[-1], str):
        return None
    return next((f for n, f in owner.model_fields.items() if loc[-1] in (n, f.alias)), None)


def _flow(value: Any) -> str:
    """A value written as YAML flow style, for examples in messages."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _example(info: FieldInfo | None, name: str) -> str:
    if info is None or not info.examples:
        return ""
    return f", e.g. '{name}: {_flow(info.examples[0])}'"


_BOUND_OPS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def _bounds(info: FieldInfo | None, ctx: dict[str, Any]) -> str:
    """Every bound of a number field ('> 0.0 and < 1.0'), so one fix gives a valid value."""
    found = [
        f"{op} {getattr(meta, attr)}"
        for meta in (info.metadata if info is not None else [])
        for attr, op in _BOUND_OPS.items()
        if getattr(meta, attr, None) is not None
    ]
    if not found:
        found = [f"{_BOUND_OPS[k]} {v}" for k, v in ctx.items() if k in _BOUND_OPS]
    return " and ".join(found) or "within its range"


_TYPE_WORDS = {
    "string_type": "text",
    "list_type": "a list",
    "dict_type": "a mapping",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "date_from_datetime_parsing": "a date like 2026-01-31",
    "date_parsing": "a date like 2026-01-31",
    "date_type": "a date like 2026-01-31",
    "float_parsing": "a number",
    "float_type": "a number",
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
}


def _problem_from_error(err: ErrorDetails) -> tuple[Loc, str]:
    loc: Loc = tuple(p for p in err["loc"])
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    exc = ctx.get("error")
    name = str(loc[-1]) if loc else ""
    if isinstance(exc, FieldProblem):
        return loc + _parse_path(exc.path), str(exc)
    if kind == "extra_forbidden":
        owner = _model_at(loc)
        valid = _keys_of(owner) if owner else []
        close = difflib.get_close_matches(name, valid, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        listing = f"valid keys here: {', '.join(valid)}" if valid else "this section takes no keys yet; remove it"
        return loc, f"unknown key {name!r}; {hint}{listing}"
    info = _field_at(loc)
    if kind == "missing":
        under = f" under {format_loc(loc[:-1])}" if loc[:-1] else ""
        example = _example(info, name).replace(", e.g.", "; add it, e.g.") or "; add it"
        about = f" ({info.description.rstrip('.')})" if info is not None and info.description else ""
        return loc, f"required key {name!r} is missing{under}{example}{about}"
    if kind == "literal_error":
        return loc, f"got {_short(value)}; expected one of {ctx.get('expected')}"
    if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        return loc, f"got {_short(value)}; must be {_bounds(info, ctx)}"
    if kind == "model_type":
        model = _model_at((*loc, "_"))
        keys = f" with the keys {', '.join(_keys_of(model))}" if model is not None else ""
        return loc, f"got {_short(value)}; expected a mapping{keys}{_example(info, name)}"
    if kind in _TYPE_WORDS:
        want = _TYPE_WORDS[kind]
        if want.endswith("number") and info is not None and info.metadata:
            want += f" {_bounds(info, ctx)}"
        return loc, f"got {_short(value)}; expected {want}{_example(info, name)}"
    if kind == "string_pattern_mismatch":
        return loc, f"got {_short(value)}; expected a non-empty name without leading or trailing spaces"
    if kind in {"string_too_short", "too_short"}:
        return loc, f"got {_short(value)}; it must not be empty{_example(info, name)}"
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
    allowed_data_roots: Iterable[str] | None = None,
) -> PipelineConfig:
    if not isinstance(data, dict):
        raise ConfigError(file, [_not_a_mapping(data, node)])
    if any(not isinstance(k, str) for k in data):  # pragma: no cover - _check_nodes reports these first
        bad = next(k for k in data if not isinstance(k, str))
        raise ConfigError(file, [Problem("", f"key {bad!r} is not text; quote it or rename it", 1)])
    merged = deep_merge(defaults_data or {}, data)
    context = {
        "allowed_estimator_modules": tuple(allowed_estimator_modules or ()) or None,
        "allowed_data_roots": tuple(allowed_data_roots or ()),
    }
    try:
        return PipelineConfig.model_validate(merged, context=context)
    except ValidationError as exc:
        problems = []
        errors = exc.errors(include_url=False)
        for err in errors[:MAX_PROBLEMS]:  # each costs a walk of the file's nodes: bound the work
            loc, message = _problem_from_error(err)
            line: int | None
            source: str | None = None
            if _has_path(data, loc) or defaults_node is None or not _has_path(defaults_data, loc):
                line = _line_of(node, loc)
            else:
                line, source = _line_of(defaults_node, loc), str(defaults_file)
            problems.append(Problem(format_loc(loc), message, line, source))
        if len(errors) > MAX_PROBLEMS:
            problems.append(
                Problem("", f"... and {len(errors) - MAX_PROBLEMS} more problems; fix these first and validate again")
            )
        raise ConfigError(file, problems) from None


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
        f"the file holds {kind} ({_short(data)}) instead of a mapping; {need}",
        _line(node) if node is not None else 1,
    )


def _defaults_for(folder: Path) -> tuple[Path | None, Any, yaml.Node | None]:
    path = folder / DEFAULTS_FILE
    if not path.is_file():
        return None, None, None
    data, node = _read_yaml(path)
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
    templates = [Problem(where, message, _line_of(node, _parse_path(where))) for where, message in find_templates(data)]
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
    config, _ = _load_one(file, _defaults_for(file.parent), allowed_estimator_modules, allowed_data_roots)
    return config


def _load_one(
    file: Path,
    defaults: tuple[Path | None, Any, yaml.Node | None],
    allowed: Iterable[str] | None,
    allowed_data_roots: Iterable[str] | None = None,
) -> tuple[PipelineConfig, yaml.Node | None]:
    """Read and validate one model file over its folder's defaults; returns the config and its YAML nodes."""
    defaults_file, defaults_data, defaults_node = defaults
    data, node = _read_yaml(file)
    config = _validate(
        data,
        file=file,
        node=node,
        defaults_file=defaults_file,
        defaults_node=defaults_node,
        defaults_data=defaults_data,
        allowed_estimator_modules=allowed,
        allowed_data_roots=allowed_data_roots,
    )
    return config, node


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
) -> LoadResult:
    """Load every config of a folder. Never raises for a bad file: errors are collected.

    Two files declaring the same model is an error on the later file (by name); the first keeps its DAGs.
    The result is cached per process on the files' names, sizes and modification times, so the loader
    and the error-reporting DAG file share one pass when Airflow parses both in one process.
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
    try:
        defaults = _defaults_for(root)
    except ConfigError as exc:
        result.errors.append(exc)
        _CACHE.clear()
        _CACHE[key] = result
        return result  # every model depends on the defaults: report them, build nothing
    owners: dict[str, Path] = {}
    for file in files:
        try:
            config, node = _load_one(file, defaults, allowed, roots)
        except ConfigError as exc:
            result.errors.append(exc)
            continue
        if config.model in owners:
            line = _line_of(node, ("model",))
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
    _CACHE.clear()
    _CACHE[key] = result
    return result


def config_sha256(config: PipelineConfig) -> str:
    """Hash of the resolved config (defaults merged, aliases applied): what the model was trained with."""
    payload = json.dumps(config.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()
