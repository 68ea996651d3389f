"""Templates in a config: the few date macros allowed, where, and the check that rejects every other one.

A config is data. Airflow renders a few operator arguments with Jinja when a task runs, so a config
string reaching one of them could read ``{{ conn.<id>.password }}`` or ``{{ var.value.x }}``. Only the
date macros below are allowed, only in the fields below; any other template anywhere in a config
(values, mapping keys, defaults.yaml) is rejected when the config is loaded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from mlops_provider.config.problems import format_loc
from mlops_provider.config.schema_base import show

_MACRO_NAMES = ("ds", "ds_nodash", "ts", "ts_nodash", "data_interval_start", "data_interval_end", "logical_date")
#: The date macros a config may use, as written in a config (whitespace inside the braces is free; N in
#: ``macros.ds_add`` is a whole number of days, e.g. -1 for the day before the run's date).
ALLOWED_MACROS: tuple[str, ...] = (
    *(f"{{{{ {name} }}}}" for name in _MACRO_NAMES),
    "{{ macros.ds_add(ds, N) }}",
)
#: The only config fields that are rendered as templates when a task runs, so the only ones that may use
#: the macros.
TEMPLATED_FIELDS: tuple[str, ...] = ("scoring.source",)

_MACRO_RE = re.compile(r"\{\{\s*(?:" + "|".join(_MACRO_NAMES) + r"|macros\.ds_add\(\s*ds\s*,\s*-?\d+\s*\))\s*\}\}")
_TEMPLATE_START_RE = re.compile(r"\{[{%#]")
_TEMPLATE_RE = re.compile(r"\{\{.*?(?:\}\}|$)|\{%.*?(?:%\}|$)|\{#.*?(?:#\}|$)", re.DOTALL)
_SECRETS_HINT = (
    "secrets never belong in a config: they live in Airflow connections, which a config names by connection id"
)


def template_problem(value: str, field: str) -> str | None:
    """Why ``value`` (the text of config field ``field``) must not be rendered; None when it is safe.

    Plain text is safe anywhere. In :data:`TEMPLATED_FIELDS` the :data:`ALLOWED_MACROS` are safe too.
    """
    if not _TEMPLATE_START_RE.search(value):
        return None
    macros = ", ".join(ALLOWED_MACROS)
    if field in TEMPLATED_FIELDS:
        pieces = _MACRO_RE.split(value)  # the text around the allowed macros
        bad = next((p for p in pieces if _TEMPLATE_START_RE.search(p)), None)
        if bad is None and not any(p.endswith("{") for p in pieces[:-1]):  # '{' + macro opens a template too
            return None
        found = _TEMPLATE_RE.search(bad if bad is not None else value)
        snippet = found.group(0) if found else value
        return (
            f"{show(snippet)} in {show(value)} is not an allowed macro; {field} may use only the date macros "
            f"{macros} (N a whole number of days), and nothing else in a config is rendered; remove it or write "
            f"the value out ({_SECRETS_HINT})"
        )
    found = _TEMPLATE_RE.search(value)
    snippet = found.group(0) if found else value
    return (
        f"{show(value)} contains the template {show(snippet)}; config values are data and are never rendered "
        f"here: only {', '.join(TEMPLATED_FIELDS)} may use the date macros {macros}; write the value out "
        f"({_SECRETS_HINT})"
    )


def find_templates(data: Any, loc: tuple[str | int, ...] = ()) -> Iterator[tuple[str, str]]:
    """``(field path, problem)`` for every string value or mapping key of raw config data holding a template."""
    if isinstance(data, bytes | bytearray):  # a dict config built in Python: checked as the text it becomes
        data = bytes(data).decode("utf-8", errors="replace")
    if isinstance(data, str):
        problem = template_problem(data, format_loc(loc))
        if problem is not None:
            yield format_loc(loc), problem
    elif isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and _TEMPLATE_START_RE.search(key):
                yield (
                    format_loc((*loc, key)),
                    f"the key {show(key)} contains a template; keys are never rendered and no key may hold one "
                    f"(only the value of {', '.join(TEMPLATED_FIELDS)} may use the date macros "
                    f"{', '.join(ALLOWED_MACROS)}); rename it ({_SECRETS_HINT})",
                )
            yield from find_templates(value, (*loc, key if isinstance(key, str) else str(key)))
    elif isinstance(data, list | tuple | set | frozenset):
        for i, item in enumerate(data):
            yield from find_templates(item, (*loc, i))
