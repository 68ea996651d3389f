"""Rules across keys: what a validator checks beyond one key's type and bounds, stated next to its code.

A validator registers the rule it enforces with :func:`rule`; the config reference
(:mod:`mlops_provider.config.reference`) lists the registry under "Rules across keys", so the page and the
checks are written once and cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Rule:
    where: str  # the keys it is about: dotted paths joined by ", "; "[]" marks list items, "*" any key
    text: str  # the rule as the reference states it (Markdown)
    validator: str  # module and qualified name of the function that enforces it


#: Every registered rule, in the order the schema modules define them (complete once
#: :mod:`mlops_provider.config.schema` is imported).
RULES: list[Rule] = []


def rule(where: str, text: str) -> Callable[[F], F]:
    """Register the rule the decorated validator enforces and return the function unchanged.

    Write it right above ``def`` (below ``@field_validator``/``@model_validator`` and ``@classmethod``); a
    validator that enforces several rules carries several.
    """

    def register(func: F) -> F:
        entry = Rule(where, text, f"{func.__module__}.{func.__qualname__}")
        if entry not in RULES:  # a module imported twice registers once
            RULES.append(entry)
        return func

    return register
