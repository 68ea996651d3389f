"""Reading a config file safely: size and structure limits, plain-value tags only, and YAML errors a person
can fix. Nothing is validated against the schema here."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from mlops_provider.config.errors import keys_of, model_at
from mlops_provider.config.locate import loc_at_line, loc_of
from mlops_provider.config.problems import DEFAULTS_FILE, ConfigError, Loc, Problem, format_loc

#: Limits that keep one file from making every parse slow (a config is read on every DAG parse). A real
#: config is a few kilobytes, a few hundred values and six levels deep.
MAX_FILE_BYTES = 1024 * 1024
#: Values (scalars, lists and mappings, keys included) counted as they would be with every alias expanded.
MAX_VALUES = 10_000
MAX_DEPTH = 64


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


def read_bytes(path: Path) -> bytes:
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


def read_yaml(path: Path, raw: bytes | None = None) -> tuple[Any, yaml.Node | None]:
    """Return (data, node tree) or raise ConfigError for unreadable / unparsable / unsafe YAML.

    ``raw``: the file's bytes when the caller has read them already (with :func:`read_bytes`)."""
    if raw is None:
        raw = read_bytes(path)
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
                    format_loc(loc_of(node, bad)),
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
            loc = loc_at_line(node, line - 1) if node is not None else ()
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
    owner = model_at((*loc, "_"))
    if owner is not None:
        message += f"; valid keys here: {', '.join(keys_of(owner))}"
    return Problem(path, message, _line(key))
