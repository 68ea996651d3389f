"""The ``deploy:`` section: how a version that passed its gates goes live (direct, canary or shadow), and sign-off.

Only the batch target exists today (``target: batch``: the model's scoring DAG serves it); the field is there
so a real-time target (an endpoint with traffic variants) can be added without changing existing configs.
Nothing here imports Airflow or a heavy library.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from mlops_provider.config.data_paths import check_data_path
from mlops_provider.config.rules import rule
from mlops_provider.config.schema_base import FieldProblem, IfUnavailable, Section
from mlops_provider.config.schema_ops import DriftMethod


class PredictionShiftGate(Section):
    """How far the trial version's predictions may move from the champion's on the same window."""

    method: DriftMethod = Field(
        default="wasserstein",
        description="Drift engine method applied to the main prediction column (binary: the positive-class "
        "score; regression: the predicted value; multiclass: the predicted class, where a categorical method is "
        "used whatever is set here).",
    )
    threshold: float = Field(
        default=0.1,
        gt=0,
        description="The method's drift threshold: a distance above it (or a p-value below it, for ks/chisquare/z) "
        "fails the gate.",
    )


class LabelMetricGate(Section):
    """The trial version against the champion on the labels that arrived for the window's rows."""

    labels_source: str = Field(
        description="Labels of scored rows as they arrive: a file or a folder of partitions with the columns "
        "data.entity_key and data.target (same path rules as data.source; not templated). Joined with the "
        "window's prediction log on the entity key.",
        examples=["churn/outcomes"],
    )
    format: Literal["csv", "parquet"] = Field(default="parquet", description="File format of labels_source.")
    metric: str | None = Field(
        default=None, description="Metric compared (a metric of the config's task); default training.primary_metric."
    )
    max_drop: float = Field(
        default=0.02,
        ge=0,
        description="How much worse than the champion's the trial's metric may be, in the metric's units (for "
        "error metrics such as rmse: how much higher).",
    )
    min_labeled_rows: int = Field(
        default=100, ge=1, description="Labeled rows each side needs before the metric is compared."
    )
    if_unavailable: IfUnavailable = Field(
        default="skip",
        description="Too few labeled rows, or a metric that cannot be computed on them (e.g. one class only): "
        "skip the gate (recorded with the reason) or fail it.",
    )

    @field_validator("labels_source")
    @classmethod
    def _path(cls, value: str, info: ValidationInfo) -> str:
        if "://" in value and not value.startswith(("s3://", "file://")):
            raise ValueError(f"unsupported scheme in {value!r}; use a local path, file:// or s3:// URI")
        checked = check_data_path(value, info)
        assert checked is not None
        return checked


class TrialGates(Section):
    """What the trial version must show on real traffic before it becomes champion."""

    max_error_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Largest share of the rows routed to the trial version that it may fail to score "
        "(those rows are served by the champion and logged with the error).",
    )
    max_latency_ms: float | None = Field(
        default=None,
        gt=0,
        description="Largest p95, over the window's scoring batches, of the trial version's prediction time per "
        "row in a batch (ms); null: not checked.",
    )
    prediction_shift: PredictionShiftGate | None = Field(
        default=None,
        description="Largest shift of the trial version's predictions against the champion's on the same "
        "window, with the drift engine's metric; null (default): not checked. Off by default because a "
        "drift-triggered retrain is expected to predict differently from the stale champion; turn it on where "
        "a shift means a broken candidate (retrains on stable data, refactored features).",
        examples=[{"method": "wasserstein", "threshold": 0.1}],
    )
    label_metric: LabelMetricGate | None = Field(
        default=None,
        description="The trial's metric against the champion's on the labels that arrived for the window's rows; "
        "null (default): not checked.",
        examples=[{"labels_source": "churn/outcomes", "metric": "roc_auc", "max_drop": 0.02}],
    )


class TrialConfig(Section):
    """The observation window of a canary (or shadow) trial and the gates it must pass."""

    fraction: float = Field(
        default=0.1,
        gt=0,
        le=0.5,
        description="Canary: share of rows the canary serves, chosen by a stable hash of the entity key (the "
        "same entity always goes to the same version). Shadow ignores it: the candidate scores every row.",
    )
    min_rows: int = Field(
        default=1000,
        ge=1,
        description="Rows routed to the trial version before it is judged. The prediction shift of a few hundred "
        "rows is noisy (two samples of one distribution differ by 0.05-0.2 in normed Wasserstein distance at 400 "
        "rows): keep it at 1,000 or more when the shift gate is on.",
    )
    min_runs: int = Field(default=2, ge=1, le=365, description="Scoring runs (dates) it must have been part of.")
    max_wait_hours: float = Field(
        default=72,
        gt=0,
        le=24 * 30,
        description="Longest wait for the window; a trial without enough rows or runs by then fails and is "
        "rolled back (the champion stays).",
    )
    poll_seconds: float = Field(
        default=300, ge=1, le=3600, description="How often the triggerer looks at the prediction log."
    )
    gates: TrialGates = Field(default_factory=TrialGates, description="The trial gates.")


class ApprovalConfig(Section):
    """Sign-off by a person before a version is deployed (Airflow's human-in-the-loop approval)."""

    required: bool = Field(default=False, description="Ask a person to approve each new version before it deploys.")
    timeout_hours: float = Field(
        default=24,
        gt=0,
        le=24 * 30,
        description="How long the request waits; no answer by then counts as a rejection (not deployed).",
    )
    assigned_users: list[str] = Field(
        default_factory=list,
        description="Airflow user ids (the auth manager's) who may answer; empty: anyone with access to the DAG.",
        examples=[["alice", "bob"]],
    )


class DeployConfig(Section):
    """How a version that passed its gates becomes champion."""

    strategy: Literal["direct", "canary", "shadow"] = Field(
        default="direct",
        description="direct: champion at once; canary: serves `canary.fraction` of the rows until its trial gates "
        "pass; shadow: scores every row beside the champion, never served, until its trial gates pass.",
    )
    target: Literal["batch"] = Field(
        default="batch", description="Where the model serves: the scoring DAG's batches (the only target today)."
    )
    canary: TrialConfig = Field(
        default_factory=TrialConfig, description="Observation window and gates of a canary or shadow trial."
    )
    approval: ApprovalConfig = Field(default_factory=ApprovalConfig, description="Sign-off before deployment.")

    @model_validator(mode="after")
    @rule(
        "deploy.canary",
        "only for `strategy: canary` or `shadow`; with `direct` the section would have no effect, so a value other "
        "than the defaults is an error.",
    )
    def _trial_needs_strategy(self) -> DeployConfig:
        # compared with the defaults, not by "was the key written": a resolved config (every key written out, as
        # lineage records it) must validate again
        if self.strategy == "direct" and self.canary != TrialConfig():
            raise FieldProblem(
                "canary",
                "deploy.canary has no effect with strategy: direct; set deploy.strategy to canary or shadow, "
                "or remove deploy.canary",
            )
        return self


__all__ = ["ApprovalConfig", "DeployConfig", "LabelMetricGate", "PredictionShiftGate", "TrialConfig", "TrialGates"]
