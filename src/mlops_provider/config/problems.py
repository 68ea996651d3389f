"""What every config message is made of: a problem (field path, message, line) and the error listing them."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULTS_FILE = "defaults.yaml"
Loc = tuple[str | int, ...]
#: A problem before it is placed on a line: (field path as in the YAML file, message).
Issue = tuple[Loc, str]


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


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_path(path: str) -> Loc:
    """``'gates.metrics[0].min'`` -> ``('gates', 'metrics', 0, 'min')``."""
    return tuple(int(m.group(2)) if m.group(2) else m.group(1) for m in _PATH_PART.finditer(path))


def format_loc(loc: Loc) -> str:
    """``('gates', 'metrics', 0, 'min')`` -> ``'gates.metrics[0].min'``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def did_you_mean(name: str, names: Sequence[str]) -> str:
    """'did you mean 'x'? ' for the closest name (or the one name ``name`` abbreviates), else ''."""
    close = difflib.get_close_matches(name, names, n=1) or [n for n in names if n.startswith(name)][:1]
    return f"did you mean {close[0]!r}? " if close and close[0] != name else ""
