"""Pydantic validation errors -> problems that say what is wrong and what would be valid."""

from __future__ import annotations

import difflib
import json
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from mlops_provider.config.problems import Issue, Loc, format_loc, parse_path
from mlops_provider.config.schema import FieldProblem, PipelineConfig


def short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def model_at(loc: Loc) -> type[BaseModel] | None:
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
        model = unwrap_model(info.annotation)
        if model is None:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def unwrap_model(annotation: Any) -> Any:
    """The pydantic model inside a field's annotation (``X``, ``X | None``, ``list[X]``), or None."""
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = unwrap_model(arg)
        if found is not None:
            return found
    return None


def keys_of(model: type[BaseModel]) -> list[str]:
    return sorted((f.alias or n) for n, f in model.model_fields.items())


def _field_at(loc: Loc) -> FieldInfo | None:
    """The pydantic field at ``loc`` (None for list items, mapping entries and unknown keys)."""
    owner = model_at(loc)
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


def problem_from_error(err: ErrorDetails) -> Issue:
    """The field path and the message (what is wrong, what would be valid) of one pydantic error."""
    loc: Loc = tuple(p for p in err["loc"])
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    exc = ctx.get("error")
    name = str(loc[-1]) if loc else ""
    if isinstance(exc, FieldProblem):
        return loc + parse_path(exc.path), str(exc)
    if kind == "extra_forbidden":
        owner = model_at(loc)
        valid = keys_of(owner) if owner else []
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
        return loc, f"got {short(value)}; expected one of {ctx.get('expected')}"
    if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        return loc, f"got {short(value)}; must be {_bounds(info, ctx)}"
    if kind == "model_type":
        model = model_at((*loc, "_"))
        keys = f" with the keys {', '.join(keys_of(model))}" if model is not None else ""
        return loc, f"got {short(value)}; expected a mapping{keys}{_example(info, name)}"
    if kind in _TYPE_WORDS:
        want = _TYPE_WORDS[kind]
        if want.endswith("number") and info is not None and info.metadata:
            want += f" {_bounds(info, ctx)}"
        return loc, f"got {short(value)}; expected {want}{_example(info, name)}"
    if kind == "string_pattern_mismatch":
        return loc, f"got {short(value)}; expected a non-empty name without leading or trailing spaces"
    if kind in {"string_too_short", "too_short"}:
        return loc, f"got {short(value)}; it must not be empty{_example(info, name)}"
    if kind == "string_too_long":
        return loc, f"got a value longer than {ctx.get('max_length')} characters; shorten it"
    if kind == "value_error":
        return loc, str(exc) if exc is not None else err["msg"]
    return loc, f"got {short(value)}; {err['msg']}"
