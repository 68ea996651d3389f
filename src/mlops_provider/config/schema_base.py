"""Building blocks every config section shares: the section base class, names, cron, field problems.

Nothing here imports Airflow or any heavy library: the schema is loaded on every DAG parse.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops_provider.config.rules import rule

MODEL_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
COLUMN_RE = re.compile(r"^\S(.*\S)?$")
CRON_FIELD_RE = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")
CRON_PRESETS = {"@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight"}
CLASS_PATH_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\.[A-Z]\w*$")

Severity = Literal["fail", "warn"]
IfUnavailable = Literal["fail", "skip"]
IF_UNAVAILABLE = (
    "When the metric cannot be computed (e.g. no predict_proba, a class missing from the holdout): fail the "
    "gate, or skip it (recorded as skipped in the gate results)."
)
SEVERITY = "fail stops the run before registration; warn records the result and lets the model through."
Column = Annotated[str, Field(min_length=1, max_length=128, pattern=COLUMN_RE.pattern)]


class FieldProblem(ValueError):
    """A cross-field problem raised from a model validator, carrying the path of the field at fault."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def show(value: str, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


class Section(BaseModel):
    """Every section rejects unknown keys: a typo must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


_PRESETS = ", ".join(f"`{p}`" for p in sorted(CRON_PRESETS))


@rule(
    "schedule.training, scoring.schedule, drift.schedule",
    f"five cron fields `minute hour day month weekday` (UTC), a preset ({_PRESETS}) or `null`.",
)
def check_cron(value: str | None) -> str | None:
    if value is None:
        return None
    if value in CRON_PRESETS:
        return value
    parts = value.split()
    if len(parts) != 5 or not all(CRON_FIELD_RE.match(p) for p in parts):
        raise ValueError(
            f"{value!r} is not a cron expression; use five fields 'minute hour day month weekday' "
            "such as '0 2 * * *' (02:00 UTC daily), a preset such as '@daily', or null for no schedule"
        )
    return value
