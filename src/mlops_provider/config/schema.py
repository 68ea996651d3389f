"""The typed pipeline config: one YAML file per model, validated with pydantic v2.

Nothing here imports Airflow or any heavy library: this module is loaded on every DAG parse.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mlops_provider.config.gx_catalog import GX_EXPECTATIONS

#: Estimator classes may come from these modules unless the deployment allows more in the
#: ``[mlops] allowed_estimator_modules`` Airflow option. A config file can never widen the list.
DEFAULT_ESTIMATOR_MODULES: tuple[str, ...] = ("sklearn",)

CLASSIFICATION_METRICS: dict[str, bool] = {
    # metric -> higher is better
    "roc_auc": True,
    "accuracy": True,
    "balanced_accuracy": True,
    "f1": True,
    "f1_weighted": True,
    "precision": True,
    "recall": True,
    "average_precision": True,
    "log_loss": False,
}
REGRESSION_METRICS: dict[str, bool] = {
    "r2": True,
    "rmse": False,
    "mae": False,
}
ALL_METRICS: dict[str, bool] = {**CLASSIFICATION_METRICS, **REGRESSION_METRICS}
#: metric -> (the kinds of target it is defined for, its definition). Binary vs multiclass is decided from
#: the labels when the model is trained; a metric that does not apply (or cannot be computed) is reported
#: as "not available" with the reason, never as NaN.
METRIC_KINDS: dict[str, tuple[tuple[str, ...], str]] = {
    "roc_auc": (
        ("binary", "multiclass"),
        "area under the ROC curve of the positive-class probability; multiclass: one-vs-rest, macro average",
    ),
    "accuracy": (("binary", "multiclass"), "share of correct predictions"),
    "balanced_accuracy": (("binary", "multiclass"), "mean recall over the classes"),
    "f1": (("binary", "multiclass"), "F1 of the positive class; multiclass: macro average over the classes"),
    "f1_weighted": (("binary", "multiclass"), "F1 averaged over the classes, weighted by their support"),
    "precision": (("binary", "multiclass"), "precision of the positive class; multiclass: macro average"),
    "recall": (("binary", "multiclass"), "recall of the positive class; multiclass: macro average"),
    "average_precision": (("binary",), "area under the precision-recall curve of the positive class"),
    "log_loss": (("binary", "multiclass"), "cross-entropy of the predicted class probabilities"),
    "r2": (("regression",), "coefficient of determination"),
    "rmse": (("regression",), "root mean squared error"),
    "mae": (("regression",), "mean absolute error"),
}

MODEL_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
COLUMN_RE = re.compile(r"^\S(.*\S)?$")
CRON_FIELD_RE = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")
CRON_PRESETS = {"@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight"}
CLASS_PATH_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\.[A-Z]\w*$")

Severity = Literal["fail", "warn"]
IfUnavailable = Literal["fail", "skip"]
_IF_UNAVAILABLE = (
    "When the metric cannot be computed (e.g. no predict_proba, a class missing from the holdout): fail the "
    "gate, or skip it (recorded as skipped in the gate results)."
)
_SEVERITY = "fail stops the run before registration; warn records the result and lets the model through."
Column = Annotated[str, Field(min_length=1, max_length=128, pattern=COLUMN_RE.pattern)]


class FieldProblem(ValueError):
    """A cross-field problem raised from a model validator, carrying the path of the field at fault."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


# -- templates -------------------------------------------------------------------------------------------
# A config is data. Airflow renders a few operator arguments with Jinja when a task runs, so a config
# string reaching one of them could read ``{{ conn.<id>.password }}`` or ``{{ var.value.x }}``. Only the
# date macros below are allowed, only in the fields below; any other template anywhere in a config
# (values, mapping keys, defaults.yaml) is rejected when the config is loaded.

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


def _show(value: str, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


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
            f"{_show(snippet)} in {_show(value)} is not an allowed macro; {field} may use only the date macros "
            f"{macros} (N a whole number of days), and nothing else in a config is rendered; remove it or write "
            f"the value out ({_SECRETS_HINT})"
        )
    found = _TEMPLATE_RE.search(value)
    snippet = found.group(0) if found else value
    return (
        f"{_show(value)} contains the template {_show(snippet)}; config values are data and are never rendered "
        f"here: only {', '.join(TEMPLATED_FIELDS)} may use the date macros {macros}; write the value out "
        f"({_SECRETS_HINT})"
    )


def find_templates(data: Any, loc: tuple[str | int, ...] = ()) -> Iterator[tuple[str, str]]:
    """``(field path, problem)`` for every string value or mapping key of raw config data holding a template."""
    if isinstance(data, bytes | bytearray):  # a dict config built in Python: checked as the text it becomes
        data = bytes(data).decode("utf-8", errors="replace")
    if isinstance(data, str):
        problem = template_problem(data, _dotted(loc))
        if problem is not None:
            yield _dotted(loc), problem
    elif isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and _TEMPLATE_START_RE.search(key):
                yield (
                    _dotted((*loc, key)),
                    f"the key {_show(key)} contains a template; keys are never rendered and no key may hold one "
                    f"(only the value of {', '.join(TEMPLATED_FIELDS)} may use the date macros "
                    f"{', '.join(ALLOWED_MACROS)}); rename it ({_SECRETS_HINT})",
                )
            yield from find_templates(value, (*loc, key if isinstance(key, str) else str(key)))
    elif isinstance(data, list | tuple | set | frozenset):
        for i, item in enumerate(data):
            yield from find_templates(item, (*loc, i))


# -- data paths ------------------------------------------------------------------------------------------
# A config may name data only inside the deployment's data roots: relative paths stay under
# ``[mlops] data_root``; absolute paths, file:// and s3:// URIs must lie under data_root or a root the
# deployment lists in ``[mlops] allowed_data_roots``. This is the lexical check made when a config is
# loaded (no file system access); the task checks the real path again when it runs
# (:mod:`mlops_provider.paths`), symlinks included.

#: Config fields that name data locations.
DATA_PATH_FIELDS: tuple[str, ...] = ("data.source", "scoring.source", "scoring.output")
_ROOTS_FIX = (
    "use a path relative to [mlops] data_root (e.g. 'churn/labeled'), or ask an Airflow admin to add the root "
    "to [mlops] allowed_data_roots"
)


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def _s3_parts(uri: str) -> tuple[str, list[str]]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, [p for p in key.split("/") if p]


def local_root(root: str) -> str:
    """A local root of the settings (folder or file:// URI) as a normalised absolute path."""
    path = root[len("file://") :] if root.startswith("file://") else root
    return os.path.normpath(os.path.abspath(path))


def under_root(value: str, root: str) -> bool:
    """Lexically: is ``value`` (an absolute path, file:// or s3:// URI) ``root`` or inside it?

    ``root`` is a local folder, a file:// URI or an s3:// prefix; an s3 prefix matches whole key segments
    (``s3://b/data`` holds ``s3://b/data/x`` but not ``s3://b/database``).
    """
    if is_s3(value) or is_s3(root):
        if not (is_s3(value) and is_s3(root)):
            return False
        (vb, vparts), (rb, rparts) = _s3_parts(value), _s3_parts(root)
        return vb == rb and ".." not in vparts and vparts[: len(rparts)] == rparts
    path = posixpath.normpath(value[len("file://") :] if value.startswith("file://") else value)
    base = local_root(root)
    return path == base or path.startswith(base.rstrip("/") + "/")


def data_path_problem(value: str, roots: Sequence[str]) -> str | None:
    """Why config path ``value`` may point outside the data roots ``roots`` (data_root first); None if it cannot."""
    if "\x00" in value:
        return f"{_show(value)} contains a NUL character; write the path without it"
    listing = f"allowed here: {', '.join(roots)}" if roots else "no data roots were given to this check"
    outside = (
        f"{_show(value)} is outside the data roots ({listing}); an absolute path, a file:// or an s3:// URI must "
        f"lie under [mlops] data_root or a root listed in [mlops] allowed_data_roots; {_ROOTS_FIX}"
    )
    if is_s3(value):
        bucket, parts = _s3_parts(value)
        if not bucket:
            return f"{_show(value)} names no bucket; write s3://<bucket>/<prefix>"
        if ".." in parts or "." in parts:
            return f"{_show(value)} has a '.' or '..' segment; write the key out in full, without them"
        return None if any(under_root(value, r) for r in roots) else outside
    if value.startswith("file://"):
        if not value[len("file://") :].startswith("/"):
            return (
                f"{_show(value)} is not an absolute file:// URI; write file:///<absolute path>, or better "
                "a path relative to [mlops] data_root"
            )
        return None if any(under_root(value, r) for r in roots if not is_s3(r)) else outside
    if value.startswith("/"):
        return None if any(under_root(value, r) for r in roots if not is_s3(r)) else outside
    norm = posixpath.normpath(value)
    if norm == ".." or norm.startswith("../"):
        return (
            f"{_show(value)} climbs out of [mlops] data_root with '..'"
            + (f" (it normalises to {_show(norm)})" if norm != value else "")
            + "; a relative path must stay inside data_root; use a path inside data_root, or ask an Airflow admin to "
            "add the other folder to [mlops] allowed_data_roots and write it as an absolute path"
        )
    return None


def _check_data_path(value: str | None, info: ValidationInfo) -> str | None:
    if value is None:
        return None
    roots = tuple((info.context or {}).get("allowed_data_roots") or ())
    problem = data_path_problem(value, roots)
    if problem is not None:
        raise ValueError(problem)
    return value


class _Section(BaseModel):
    """Every section rejects unknown keys: a typo must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _check_cron(value: str | None) -> str | None:
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


class ScheduleConfig(_Section):
    """When the DAGs run. Times are UTC."""

    training: str | None = Field(
        default="0 2 * * *",
        description="Cron for the nightly training run (UTC); null to train only on drift or by hand. "
        "The training DAG also runs on every event of the model's drift Asset.",
    )
    start_date: date | None = Field(
        default=None,
        description="First date the schedule applies to; null (default) waits for the next cron time "
        "after the DAG is unpaused instead of running the most recent one at once.",
    )
    catchup: bool = Field(default=False, description="Run missed intervals since start_date.")

    @field_validator("training")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return _check_cron(value)


class FeaturesConfig(_Section):
    """Feature columns by kind: numeric ones are median-imputed and scaled, categorical ones one-hot encoded."""

    numeric: list[Column] = Field(
        default_factory=list, description="Numeric feature columns.", examples=[["tenure_months"]]
    )
    categorical: list[Column] = Field(
        default_factory=list, description="Categorical feature columns.", examples=[["plan"]]
    )

    @model_validator(mode="after")
    def _non_empty_and_unique(self) -> FeaturesConfig:
        if not self.numeric and not self.categorical:
            raise FieldProblem(
                "",
                "no feature columns; list at least one column under data.features.numeric or "
                "data.features.categorical, e.g. 'numeric: [tenure_months]'",
            )
        seen: dict[str, str] = {}
        for where, col in self.located():
            if col in seen:
                raise FieldProblem(
                    where,
                    f"column {col!r} is listed twice (first as {seen[col]}); each feature belongs to exactly "
                    "one of numeric or categorical, remove one",
                )
            seen[col] = where
        return self

    def located(self) -> list[tuple[str, str]]:
        """``(path relative to features, column)`` for every feature, in order."""
        return [
            *((f"numeric[{i}]", c) for i, c in enumerate(self.numeric)),
            *((f"categorical[{i}]", c) for i, c in enumerate(self.categorical)),
        ]

    @property
    def all(self) -> list[str]:
        return [*self.numeric, *self.categorical]


class DataConfig(_Section):
    """Where the labeled training data lives and what its columns mean."""

    source: str = Field(
        min_length=1,
        examples=["churn/labeled", "s3://ml-data/churn/labeled"],
        description="Labeled training data: a file, or a folder of csv/parquet partitions. A relative path "
        "is resolved against the [mlops] data_root Airflow option and must stay inside it; an absolute path, "
        "file:// or s3:// URI must lie under data_root or a root in [mlops] allowed_data_roots. s3:// URIs are "
        "read through the aws connection. Not templated.",
    )
    format: Literal["csv", "parquet"] = Field(default="parquet", description="File format of the source.")
    target: Column = Field(description="The label column.", examples=["churned"])
    features: FeaturesConfig = Field(
        description="Feature columns by kind.",
        examples=[{"numeric": ["tenure_months"], "categorical": ["plan"]}],
    )
    time_column: Column | None = Field(default=None, description="Event time column; needed for window_days.")
    entity_key: Column | None = Field(default=None, description="Entity id column (never a feature).")
    positive_class: StrictBool | StrictInt | StrictFloat | StrictStr | None = Field(
        default=None,
        examples=["wet", 1, True],
        description="Positive class of a binary classification target (a single label value). Null infers it: "
        "the one yes-like label (1, True, yes, true, positive, pos, y; case-insensitive), else the minority class. "
        "At training it must be one of the target's labels.",
    )
    window_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="Train on the last N days of labeled data, counted back from the newest time_column "
        "value in the source. Null trains on everything.",
    )
    recent_partitions: int = Field(
        default=1,
        ge=0,
        le=1000,
        description="Built-in check before training: a feature with no value in the newest N partitions of the "
        "training window (the column absent from their files, or empty) stops the run, as its feed has probably "
        "stopped. A partition is the folder holding files under data.source (e.g. date=2026-07-30/), or a file "
        "directly in it; partitions are ordered by the newest time_column value of their rows in the window "
        "(without time_column, by path). 0 turns this check off. The other built-in checks (a feature with no "
        "value in the whole window, a target with empty values) are always on.",
    )

    @field_validator("positive_class", mode="before")
    @classmethod
    def _scalar_label(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str | bool | int | float):
            raise ValueError(
                f"positive_class must be one label value (a string, number or boolean), not a "
                f"{type(value).__name__}; e.g. 'positive_class: wet', or remove it to infer the positive class"
            )
        return value

    @field_validator("source")
    @classmethod
    def _source_scheme(cls, value: str, info: ValidationInfo) -> str:
        if "://" in value and not value.startswith(("s3://", "file://")):
            scheme = value.split("://", 1)[0]
            raise ValueError(f"unsupported scheme {scheme!r} in {value!r}; use a local path, file:// or s3:// URI")
        _check_data_path(value, info)
        return value

    @model_validator(mode="after")
    def _columns_consistent(self) -> DataConfig:
        located = self.features.located()
        for name, col in (
            ("target", self.target),
            ("entity_key", self.entity_key),
            ("time_column", self.time_column),
        ):
            where = next((w for w, c in located if c == col), None)
            if col is not None and where is not None:
                raise FieldProblem(
                    f"features.{where}",
                    f"column {col!r} is the data.{name} and must not also be a feature (leakage); "
                    f"remove it from data.features.{where.split('[')[0]}",
                )
        if self.window_days is not None and self.time_column is None:
            raise FieldProblem(
                "window_days",
                f"window_days {self.window_days} needs data.time_column (the event time column, e.g. "
                "'time_column: event_date') to know which rows fall in the window; set it, or remove "
                "window_days to train on all rows",
            )
        return self


class EstimatorConfig(_Section):
    """The estimator class and its keyword arguments."""

    class_: str = Field(
        alias="class",
        examples=["sklearn.linear_model.LogisticRegression"],
        description="Dotted path of the estimator class, e.g. sklearn.ensemble.RandomForestClassifier. "
        "Only modules on the allow-list may be named (scikit-learn by default).",
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the estimator.")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("class_")
    @classmethod
    def _allowed(cls, value: str, info: ValidationInfo) -> str:
        example = "write the module and the class, e.g. sklearn.linear_model.LogisticRegression"
        if "." not in value:
            raise ValueError(f"{value!r} is not a dotted class path; {example}")
        allowed = tuple((info.context or {}).get("allowed_estimator_modules") or DEFAULT_ESTIMATOR_MODULES)
        if not any(value == m or value.startswith(m + ".") for m in allowed):
            raise ValueError(
                f"{value!r} is not in an allowed module (allowed: {', '.join(allowed)}); use an estimator "
                "class from those, e.g. sklearn.ensemble.RandomForestClassifier. An Airflow admin can allow "
                "more modules in the [mlops] allowed_estimator_modules option"
            )
        if not CLASS_PATH_RE.match(value):
            raise ValueError(
                f"{value!r} is not a dotted class path (the last part must be a class name starting with "
                f"an uppercase letter); {example}"
            )
        return value

    @field_validator("params")
    @classmethod
    def _no_random_state(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "random_state" in value:
            raise FieldProblem(
                "random_state",
                f"random_state {value['random_state']!r} is not allowed here: it is set from training.seed "
                "for every step that takes one; remove it and set training.seed instead",
            )
        return value


class TrainingConfig(_Section):
    """How the model is trained and which metric is the headline."""

    estimator: EstimatorConfig = Field(
        description="The estimator class and its parameters.",
        examples=[{"class": "sklearn.linear_model.LogisticRegression", "params": {"C": 1.0}}],
    )
    test_size: float = Field(default=0.2, gt=0.0, lt=1.0, description="Holdout fraction.")
    seed: int = Field(
        default=42, ge=0, le=2**32 - 1, description="Seed for the split and every random_state in the pipeline."
    )
    stratify: bool = Field(default=True, description="Stratify the split on the target (classification).")
    primary_metric: str | None = Field(
        default=None, description="Headline metric; default roc_auc (classification) or rmse (regression)."
    )


class MetricGate(_Section):
    """A bound on one holdout metric of the new model."""

    metric: str = Field(description="Holdout metric name.", examples=["roc_auc"])
    min: float | None = Field(default=None, description="Fail when the metric is below this.")
    max: float | None = Field(default=None, description="Fail when the metric is above this.")
    severity: Severity = Field(default="fail", description=_SEVERITY)
    if_unavailable: IfUnavailable = Field(default="fail", description=_IF_UNAVAILABLE)

    @model_validator(mode="after")
    def _bound(self) -> MetricGate:
        if self.min is None and self.max is None:
            higher = ALL_METRICS.get(self.metric, True)
            example = "min: 0.75 (higher is better)" if higher else "max: 0.5 (lower is better)"
            raise FieldProblem(
                "",
                f"gate on {self.metric!r} has neither min nor max; set at least one, e.g. {example}",
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise FieldProblem(
                "min",
                f"min {self.min} is greater than max {self.max}, so no value could pass; "
                "lower min or raise max (min <= max)",
            )
        return self


class ChampionGate(_Section):
    """The new model against the current champion, both scored on the new model's holdout."""

    metric: str | None = Field(default=None, description="Metric compared; default training.primary_metric.")
    max_drop: float = Field(ge=0.0, description="Largest allowed worsening against the champion on the same holdout.")
    severity: Severity = Field(default="fail", description=_SEVERITY)
    if_unavailable: IfUnavailable = Field(default="fail", description=_IF_UNAVAILABLE)


class LatencyGate(_Section):
    """Prediction latency of the new model on holdout rows (predict_proba when it has one): the p95 of the CPU
    time of each call, with prediction single-threaded, so other processes on the worker do not change it.
    Warm-up calls first; a measurement over the limit is taken again (up to 3 rounds) and the best round counts."""

    p95_ms_per_row: float | None = Field(
        default=None, gt=0, description="Limit on the p95 of one single-row predict call (ms of CPU time)."
    )
    p95_ms_per_batch: float | None = Field(
        default=None, gt=0, description="Limit on the p95 of one predict call on batch_size rows (ms of CPU time)."
    )
    batch_size: int = Field(default=1000, ge=1, le=1_000_000, description="Rows per batch for p95_ms_per_batch.")
    repeats: int = Field(
        default=100,
        ge=5,
        le=10_000,
        description="Timed single-row calls per round; fewer than 50 count as 50 (a p95 of fewer calls is close to "
        "their maximum). The batch measurement makes repeats/5 calls per round (at least 20).",
    )
    severity: Severity = Field(default="fail", description=_SEVERITY)

    @model_validator(mode="after")
    def _bound(self) -> LatencyGate:
        if self.p95_ms_per_row is None and self.p95_ms_per_batch is None:
            raise ValueError(
                "latency gate has no threshold; set p95_ms_per_row (e.g. 25), p95_ms_per_batch "
                "(e.g. 250) or both, or remove gates.latency"
            )
        return self


class FairnessGate(_Section):
    """The gap of one metric between the best and the worst group of a column, on the holdout."""

    slice: Column = Field(description="Column whose values define the groups.", examples=["region"])
    metric: str = Field(default="recall", description="Metric computed per group.")
    max_gap: float = Field(ge=0.0, description="Largest allowed gap between the best and worst group.")
    min_rows: int = Field(default=30, ge=1, description="Groups with fewer holdout rows are not compared.")
    severity: Severity = Field(default="fail", description=_SEVERITY)
    if_unavailable: IfUnavailable = Field(default="fail", description=_IF_UNAVAILABLE)


class GatesConfig(_Section):
    """Checks a new model must pass before it is registered. No gates: every trained model is registered."""

    metrics: list[MetricGate] = Field(default_factory=list, description="Bounds on holdout metrics.")
    champion: ChampionGate | None = Field(
        default=None, description="Comparison with the current champion; null for none."
    )
    latency: LatencyGate | None = Field(default=None, description="Prediction latency limits; null for none.")
    fairness: list[FairnessGate] = Field(
        default_factory=list, description="Largest allowed metric gaps between groups."
    )


class AlertingConfig(_Section):
    """Where failure alerts go."""

    slack_conn_id: str | None = Field(
        default="slack_mlops",
        description="Airflow connection id of a Slack incoming webhook. When the connection does not "
        "exist, alerts go to the task log and the local outbox file.",
    )


class AirflowConfig(_Section):
    """Airflow settings of the model's DAGs."""

    retries: int = Field(
        default=1, ge=0, le=20, description="Task retries (failed data validation and failed gates are never retried)."
    )
    retry_delay_minutes: float = Field(default=5.0, ge=0, le=24 * 60, description="Wait between retries.")
    tags: list[str] = Field(default_factory=list, description="Extra DAG tags.", examples=[["churn"]])


_INPUT_CHECK_SEVERITY = (
    "warn scores the batch and logs the breach; fail stops the task before anything is written to the "
    "prediction log (not retried)."
)
_MAX_RATE = (
    "Largest allowed share (0-1) of the batch's rows with such a value, per feature column; above it the "
    "check breaks. 0: any single value breaks it; 1: never."
)


class UnseenCategoriesCheck(_Section):
    """Values of a categorical feature the champion never saw in training: its fitted one-hot encoder ignores
    them, so such a row scores as 'none of the known categories'. Nulls are not counted."""

    max_rate: float = Field(default=0.05, ge=0.0, le=1.0, description=_MAX_RATE)
    severity: Severity = Field(default="warn", description=_INPUT_CHECK_SEVERITY)


class NonNumericCheck(_Section):
    """Values of a numeric feature that are text but not a number (e.g. 'n/a', 'twelve'): the model would see
    them as missing and impute them. Nulls and blank text are not counted."""

    max_rate: float = Field(default=0.0, ge=0.0, le=1.0, description=_MAX_RATE)
    severity: Severity = Field(default="warn", description=_INPUT_CHECK_SEVERITY)


class InputChecksConfig(_Section):
    """Checks of each batch against what the champion was trained on, before it is scored. The counts are always
    recorded (task log, return value, prediction log); the bounds decide between a warning and a failed task."""

    unseen_categories: UnseenCategoriesCheck = Field(
        default_factory=UnseenCategoriesCheck, description="Categorical values the champion never saw in training."
    )
    non_numeric: NonNumericCheck = Field(
        default_factory=NonNumericCheck, description="Text that is not a number in numeric features."
    )


class ScoringConfig(_Section):
    """Batch scoring with the champion: the <model>_scoring DAG exists when ``source`` is set."""

    source: str | None = Field(
        default=None,
        description="Current (unlabeled) data to score, templated by the run's date, e.g. "
        "'churn/current/{{ ds }}.parquet'; the only config field that may use the date macros: "
        + ", ".join(ALLOWED_MACROS)
        + ". Relative paths are taken from [mlops] data_root and must stay inside it; s3:// works too, "
        "under data_root or a root in [mlops] allowed_data_roots.",
        examples=["churn/current/{{ ds }}.parquet"],
    )
    format: Literal["csv", "parquet"] = Field(default="parquet", description="File format of the source.")
    schedule: str | None = Field(
        default="0 6 * * *", description="Cron of the scoring DAG (UTC); null to score only when triggered."
    )
    output: str | None = Field(
        default=None,
        description="Root of the prediction log (parquet partitioned by scoring_date=YYYY-MM-DD, readable "
        "with pandas.read_parquet(<root>)); default 'predictions/<model>' under [mlops] data_root. Same path "
        "rules as scoring.source; not templated.",
    )
    input_checks: InputChecksConfig = Field(
        default_factory=InputChecksConfig,
        description="Unseen categories and non-numeric values in each batch: counted, logged, and "
        "warn or fail above a bound.",
        examples=[
            {
                "unseen_categories": {"max_rate": 0.05, "severity": "warn"},
                "non_numeric": {"max_rate": 0.0, "severity": "fail"},
            }
        ],
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return _check_cron(value)

    @field_validator("source", "output")
    @classmethod
    def _scheme(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and "://" in value and not value.startswith(("s3://", "file://")):
            raise ValueError(f"unsupported scheme in {value!r}; use a local path, file:// or s3:// URI")
        return _check_data_path(value, info)


DriftMethod = Literal["ks", "chisquare", "z", "wasserstein", "psi", "jensenshannon"]


class ColumnDriftSettings(_Section):
    """Method and threshold for one column (Evidently's meaning of each)."""

    method: DriftMethod | None = Field(default=None, description="Statistical test or distance for this column.")
    threshold: float | None = Field(
        default=None,
        gt=0,
        description="p-value (ks, chisquare, z: drift below it) or distance (psi, "
        "wasserstein, jensenshannon: drift at or above it).",
    )


class DriftConfig(_Section):
    """The <model>_drift DAG: Evidently-compatible drift of served features and predictions vs the champion."""

    schedule: str | None = Field(default="0 7 * * *", description="Cron of the drift check (UTC); null for manual.")
    window_days: int = Field(
        default=1, ge=1, le=90, description="Days of the prediction log compared, ending at the run's date."
    )
    method: DriftMethod | None = Field(
        default=None,
        description="Method for every feature; default Evidently's choice per column (by "
        "reference size and column kind).",
    )
    threshold: float | None = Field(
        default=None, gt=0, description="Threshold for every feature; default the method's Evidently default."
    )
    per_column: dict[str, ColumnDriftSettings] = Field(
        default_factory=dict, description="Method/threshold per feature column, overriding method/threshold."
    )
    drift_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Dataset drift when at least this share of features drift; that is what can trigger a retrain.",
    )
    prediction_method: DriftMethod | None = Field(default=None, description="Method for the prediction score.")
    prediction_threshold: float | None = Field(default=None, gt=0, description="Threshold for the prediction score.")
    cooldown_hours: float = Field(
        default=24,
        ge=0,
        le=24 * 90,
        description="No drift-triggered retrain within this many hours of the last training.",
    )
    max_consecutive_retrains: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Circuit breaker: after this many drift-triggered retrains in one "
        "episode that did not bring drift under the threshold, stop retraining and escalate to a human.",
    )
    report_rows: int = Field(
        default=50_000, ge=1000, le=1_000_000, description="Rows sampled (per side) into the Evidently HTML report."
    )
    min_rows: int = Field(default=200, ge=1, description="Fewer rows in the window than this: no verdict.")
    column_group_size: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="Wide tables: check the features in groups of this many "
        "columns, one mapped task per group (dynamic task mapping); null checks all in one task.",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return _check_cron(value)


class _Reserved(_Section):
    """Reserved section: it takes no keys yet."""


def _expectation_item(value: Any) -> Any:
    if isinstance(value, str):
        return {value: {}}
    return value


class PipelineConfig(_Section):
    """One model's pipelines."""

    model: str = Field(description="Registered model name; DAG ids are <model>_training and so on.", examples=["churn"])
    owner: str = Field(default="mlops", min_length=1, description="Airflow task owner.")
    description: str = Field(default="", description="Free text, shown in the DAG's docs.")
    task: Literal["classification", "regression"] = Field(
        default="classification", description="Decides the metrics, the split and the estimator kind."
    )
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig, description="When training runs.")
    data: DataConfig = Field(
        description="The labeled training data.",
        examples=[{"source": "churn/labeled", "target": "churned", "features": {"numeric": ["tenure_months"]}}],
    )
    expectations: list[dict[str, dict[str, Any]]] = Field(
        default_factory=list,
        description="Great Expectations checks on the training data, each written as '- expect_name: {arguments}'.",
        examples=[[{"expect_column_values_to_not_be_null": {"column": "customer_id"}}]],
    )
    training: TrainingConfig = Field(
        description="How the model is trained.",
        examples=[{"estimator": {"class": "sklearn.linear_model.LogisticRegression"}}],
    )
    gates: GatesConfig = Field(default_factory=GatesConfig, description="What a new model must pass.")
    alerting: AlertingConfig = Field(default_factory=AlertingConfig, description="Where alerts go.")
    airflow: AirflowConfig = Field(default_factory=AirflowConfig, description="Airflow settings of the DAGs.")
    scoring: ScoringConfig = Field(default_factory=ScoringConfig, description="Batch scoring with the champion.")
    deploy: _Reserved = Field(default_factory=_Reserved, description="Reserved for deployment settings.")
    drift: DriftConfig = Field(default_factory=DriftConfig, description="Drift checks and drift-triggered retraining.")
    cost: _Reserved = Field(default_factory=_Reserved, description="Reserved for cost report settings.")

    @model_validator(mode="before")
    @classmethod
    def _no_templates(cls, data: Any) -> Any:
        found = list(find_templates(data))
        if found:
            path, message = found[0]
            if len(found) > 1:
                others = ", ".join(p for p, _ in found[1:6]) + (", ..." if len(found) > 6 else "")
                message += f"; {len(found) - 1} more value(s) of this config hold templates too: {others}"
            raise FieldProblem(path, message)
        return data

    @field_validator("model")
    @classmethod
    def _model_name(cls, value: str) -> str:
        if not MODEL_NAME_RE.match(value):
            raise ValueError(
                f"{value!r} is not a valid model name; use lowercase letters, digits and underscores, "
                "starting with a letter (at most 63 characters), e.g. 'churn' or 'churn_v2'"
            )
        return value

    @field_validator("expectations", mode="before")
    @classmethod
    def _normalise_expectations(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [_expectation_item(v) for v in value]
        return value

    @field_validator("expectations")
    @classmethod
    def _known_expectations(cls, value: list[dict[str, dict[str, Any]]]) -> list[dict[str, dict[str, Any]]]:
        import difflib

        for i, item in enumerate(value):
            if len(item) != 1:
                raise FieldProblem(
                    f"[{i}]",
                    f"item {i} has {len(item)} keys ({', '.join(item)}); write one expectation per item, "
                    "e.g. '- expect_column_values_to_not_be_null: {column: customer_id}'",
                )
            (name,) = item
            if name not in GX_EXPECTATIONS:
                close = difflib.get_close_matches(name, GX_EXPECTATIONS, n=3)
                hint = (
                    f"did you mean {' or '.join(repr(c) for c in close)}?"
                    if close
                    else "see the core expectations in the Great Expectations gallery"
                )
                raise FieldProblem(f"[{i}]", f"{name!r} is not a Great Expectations core expectation; {hint}")
        return value

    @model_validator(mode="after")
    def _metrics_match_task(self) -> PipelineConfig:
        valid = CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS
        names = ", ".join(valid)

        def check(metric: str | None, where: str) -> None:
            if metric is not None and metric not in valid:
                raise FieldProblem(where, f"{metric!r} is not a {self.task} metric; use one of {names}")

        check(self.training.primary_metric, "training.primary_metric")
        for i, gate in enumerate(self.gates.metrics):
            check(gate.metric, f"gates.metrics[{i}].metric")
        if self.gates.champion is not None:
            check(self.gates.champion.metric, "gates.champion.metric")
        for i, fgate in enumerate(self.gates.fairness):
            check(fgate.metric, f"gates.fairness[{i}].metric")
        stratify_set = "stratify" in self.training.model_fields_set
        if self.task == "regression" and self.training.stratify and stratify_set:
            raise FieldProblem(
                "training.stratify",
                "stratify: true applies to classification only; remove it (or set false) for regression",
            )
        if self.task == "regression" and self.data.positive_class is not None:
            raise FieldProblem(
                "data.positive_class",
                f"positive_class {self.data.positive_class!r} applies to classification only; remove it for regression",
            )
        features = self.data.features.all
        for col in self.drift.per_column:
            if col not in features:
                raise FieldProblem(
                    f"drift.per_column.{col}",
                    f"{col!r} is not a feature; per_column takes feature columns: {', '.join(features)}",
                )
        return self

    # -- derived values used by factories and operators -----------------------------------------------

    @property
    def primary_metric(self) -> str:
        if self.training.primary_metric:
            return self.training.primary_metric
        return "roc_auc" if self.task == "classification" else "rmse"

    @property
    def drift_asset_uri(self) -> str:
        return f"mlops://{self.model}/drift"

    @property
    def predictions_asset_uri(self) -> str:
        return f"mlops://{self.model}/predictions"

    @property
    def predictions_root(self) -> str:
        return self.scoring.output or f"predictions/{self.model}"

    def dag_id(self, kind: str) -> str:
        return f"{self.model}_{kind}"
