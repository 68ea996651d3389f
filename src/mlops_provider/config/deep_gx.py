"""Deep check of ``expectations``: each is built as Great Expectations builds it for the run, and every
argument it rejects becomes one issue naming the argument, the value, what it must be and the fix.

Imports Great Expectations only when a check runs, never at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from mlops_provider.config.gx_catalog import GX_EXPECTATIONS
from mlops_provider.config.problems import Issue, Loc, did_you_mean

#: Arguments every expectation takes and GX fills in itself; not listed as an expectation's arguments.
_GX_INTERNAL = {"batch_id", "id", "rendered_content", "windows"}
#: Arguments every expectation takes (listed only when suggesting a name).
_COMMON = {"meta", "notes", "result_format", "description", "catch_exceptions", "severity"}
_MISSING = object()


def _gx_expectations() -> Any:
    import logging

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:  # its import logs metric registrations at INFO
        gx_logger.setLevel(logging.WARNING)
    from great_expectations import expectations

    return expectations


def expectation_issues(expectations: Sequence[Mapping[str, Mapping[str, Any] | None]]) -> list[Issue]:
    """Build each expectation as the run will; one issue per argument Great Expectations rejects."""
    if not expectations:
        return []
    gxe = _gx_expectations()
    issues: list[Issue] = []
    for i, item in enumerate(expectations):
        ((name, kwargs),) = item.items()
        cls = getattr(gxe, GX_EXPECTATIONS[name])
        try:
            cls(**(kwargs or {}))
        except Exception as exc:
            issues += expectation_error_issues(i, name, exc, cls, kwargs)
    return issues


#: Pydantic error types (v1, which GX 1.x uses, and v2) -> what the argument must be.
_WANTED = {
    "type_error.float": "a number",
    "type_error.number": "a number",
    "float_parsing": "a number",
    "float_type": "a number",
    "type_error.integer": "a whole number",
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "type_error.str": "text",
    "string_type": "text",
    "type_error.bool": "true or false",
    "bool_parsing": "true or false",
    "type_error.list": "a list",
    "type_error.set": "a list",
    "type_error.sequence": "a list",
    "list_type": "a list",
    "set_type": "a list",
    "value_error.date": "a date (YYYY-MM-DD)",
    "date_parsing": "a date (YYYY-MM-DD)",
    "value_error.datetime": "a date-time (YYYY-MM-DDTHH:MM:SS)",
    "datetime_parsing": "a date-time (YYYY-MM-DDTHH:MM:SS)",
    "type_error.none.not_allowed": "a value (not null)",
    "none_required": "null",
}
_BOUND = {
    "value_error.number.not_le": "at most",
    "less_than_equal": "at most",
    "value_error.number.not_lt": "less than",
    "less_than": "less than",
    "value_error.number.not_ge": "at least",
    "greater_than_equal": "at least",
    "value_error.number.not_gt": "greater than",
    "greater_than": "greater than",
}
#: The suite-parameter alternative ({"$PARAMETER": name}) GX allows for most arguments: not a fix to offer.
_DICT = {"type_error.dict", "dict_type"}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def expectation_error_issues(
    index: int, name: str, error: Exception, cls: type | None = None, kwargs: Mapping[str, Any] | None = None
) -> list[Issue]:
    """Issues for the exception Great Expectations raised building expectation ``index`` (``name``, with the
    arguments ``kwargs``): one per argument, each naming the argument, the value, what it must be and the fix."""
    where: Loc = ("expectations", index, name)
    gx_name = GX_EXPECTATIONS.get(name, name)
    errors = getattr(error, "errors", None)
    try:
        details = list(errors()) if callable(errors) else []
    except Exception:  # pragma: no cover - not a pydantic error after all
        details = []
    if not details:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        return [(where, f"Great Expectations rejects the arguments of {gx_name}: {first}; fix them")]
    fields = [f for f in _fields(cls) if f not in _GX_INTERNAL]
    own = [f for f in fields if f not in _COMMON]
    by_arg: dict[str, list[Mapping[str, Any]]] = {}
    for detail in details:
        loc = tuple(detail.get("loc") or ())
        by_arg.setdefault(str(loc[0]) if loc else "__root__", []).append(detail)
    issues: list[Issue] = []
    for arg, errs in by_arg.items():
        kinds = {str(e.get("type")) for e in errs}
        if arg == "__root__":  # a rule across arguments
            text = "; ".join(dict.fromkeys(str(e.get("msg")) for e in errs))
            issues.append((where, f"Great Expectations rejects the arguments of {gx_name}: {text}; fix them"))
        elif kinds & {"value_error.extra", "extra_forbidden"}:
            hint = did_you_mean(arg, fields)
            listing = f" or use one of its arguments: {', '.join(own)}" if own else ""
            issues.append(((*where, arg), f"{gx_name} has no argument {arg!r}; {hint}remove it{listing}"))
        elif kinds & {"value_error.missing", "missing"}:
            issues.append(
                (
                    (*where, arg),
                    f"{gx_name} needs the argument {arg!r}, which is missing; add it, e.g. '- {name}: {{{arg}: ...}}'",
                )
            )
        else:
            value = kwargs[arg] if kwargs is not None and arg in kwargs else errs[0].get("input", _MISSING)
            issues.append(((*where, arg), _value_message(gx_name, arg, errs, value)))
    return issues


def _value_message(gx_name: str, arg: str, errs: Sequence[Mapping[str, Any]], value: Any) -> str:
    wants: list[str] = []
    for e in errs:
        kind = str(e.get("type"))
        ctx = e.get("ctx") or {}
        if kind in _WANTED:
            wants.append(_WANTED[kind])
        elif kind in _BOUND:
            limit = next((ctx[k] for k in ("limit_value", "le", "lt", "ge", "gt") if k in ctx), "its bound")
            wants.append(f"a number {_BOUND[kind]} {limit}")
        elif kind in ("type_error.enum", "enum"):
            values = ctx.get("enum_values") or ctx.get("expected") or []
            listed = values if isinstance(values, str) else ", ".join(repr(getattr(v, "value", v)) for v in values)
            wants.append(f"one of {listed}")
        elif kind not in _DICT:
            wants.append(str(e.get("msg")))
    wants = list(dict.fromkeys(wants)) or ["a mapping"]
    want = wants[0] if len(wants) == 1 else ", ".join(wants[:-1]) + " or " + wants[-1]
    got = f"got {_shown(value)}; " if value is not _MISSING else ""
    return f"{got}{gx_name} needs {arg} to be {want}; change the value of {arg}"


def _fields(cls: type | None) -> list[str]:
    if cls is None:
        return []
    found = getattr(cls, "__fields__", None) or getattr(cls, "model_fields", None) or {}
    return [str(f) for f in found]
