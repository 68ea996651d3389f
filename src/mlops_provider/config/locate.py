"""Field paths and the YAML node tree: the line a field is on, the field a line or a node belongs to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mlops_provider.config.problems import Loc, Problem, format_loc

#: A folder's defaults.yaml as the loader reads it: (file, data, node tree); all None without one.
Defaults = tuple[Path | None, Any, yaml.Node | None]


def loc_of(root: yaml.Node | None, target: yaml.Node) -> Loc:
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


def loc_at_line(node: yaml.Node, line0: int) -> Loc:
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


def line_of(node: yaml.Node | None, loc: Loc) -> int | None:
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


def has_path(data: Any, loc: Loc) -> bool:
    for part in loc:
        if isinstance(data, dict) and isinstance(part, str) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return False
    return True


def place(loc: Loc, message: str, data: Any, node: yaml.Node | None, defaults: Defaults) -> Problem:
    """``message`` about field ``loc`` as a problem on its line: in the config file (``data``, ``node``), or in
    its folder's defaults.yaml when the value is inherited from there."""
    defaults_file, defaults_data, defaults_node = defaults
    line: int | None
    source: str | None = None
    if has_path(data, loc) or defaults_node is None or not has_path(defaults_data, loc):
        line = line_of(node, loc)
    else:
        line, source = line_of(defaults_node, loc), str(defaults_file)
    return Problem(format_loc(loc), message, line, source)
