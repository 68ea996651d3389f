"""Trials: stable routing, the window the trigger counts, and the gates judged from a prediction log."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops_provider import trials
from mlops_provider.config import PipelineConfig

REPO = Path(__file__).resolve().parents[2]


def _config(**gates: Any) -> PipelineConfig:
    data = yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text())
    data = copy.deepcopy(data)
    data["scoring"] = {"source": "churn/current/{{ ds }}.parquet"}
    gates = {"max_error_rate": 0.01, "prediction_shift": {"method": "wasserstein", "threshold": 0.1}, **gates}
    data["deploy"] = {"strategy": "canary", "canary": {"gates": gates}}
    return PipelineConfig.model_validate(data)


def test_routing_is_stable_and_close_to_the_fraction():
    keys = [f"c{i}" for i in range(20_000)]
    routed = trials.to_canary("churn", keys, 0.1)
    assert abs(sum(routed) / len(keys) - 0.1) < 0.01
    assert routed == trials.to_canary("churn", list(reversed(keys)), 0.1)[::-1]  # by key, not by position
    assert trials.to_canary("churn", keys, 0.2)[:1000] >= routed[:1000]  # a larger fraction keeps the canary's rows
    assert all(a or not b for a, b in zip(trials.to_canary("churn", keys, 0.2), routed, strict=True))
    assert routed != trials.to_canary("other_model", keys, 0.1)  # each model splits on its own


def _log(rng: np.random.Generator, day: str, *, errors: int = 0, slow: float = 1.0, shift: float = 0.0) -> pd.DataFrame:
    n = 1000
    canary = np.arange(n) < 200
    score = rng.beta(2, 5, n)
    score[canary] = np.clip(score[canary] + shift, 0, 1)
    error = np.array([""] * n, dtype=object)
    error[:errors] = "ValueError: input outside the range this model supports"
    return pd.DataFrame(
        {
            "entity_key": [f"{day}-{i}" for i in range(n)],
            "prediction": (score > 0.5).astype(int),
            "score": score,
            "proba.0": 1 - score,
            "proba.1": score,
            "model_version": np.where(canary & (error == ""), 2, 1),
            "latency_ms": np.where(canary, 0.01 * slow, 0.01),
            "route": np.where(canary, "canary", "champion"),
            "served": True,
            "error": error,
            "scoring_date": day,
        }
    )


def _gates(log: pd.DataFrame, config: PipelineConfig) -> dict[str, trials.TrialGate]:
    return {g.gate: g for g in trials.evaluate(log, config, "canary")}


def test_a_healthy_canary_passes_every_gate():
    rng = np.random.default_rng(0)
    log = pd.concat([_log(rng, "2026-10-01"), _log(rng, "2026-10-02")], ignore_index=True)
    gates = _gates(log, _config(max_latency_ms=0.05))
    assert all(g.passed for g in gates.values()), [g.line() for g in gates.values()]
    assert "0 of 400 rows failed" in gates["error_rate"].detail


@pytest.mark.parametrize(
    ("sabotage", "gate", "says"),
    [
        ({"errors": 30}, "error_rate", "60 of 400 rows failed (15.00%) vs max 1.00%; e.g. ValueError: input outside"),
        ({"slow": 100.0}, "latency_p95_ms", "p95 1.000 ms per row over 2 batch(es) vs max 0.05 ms; champion 0.010 ms"),
        ({"shift": 0.3}, "prediction_shift", "score wasserstein"),
    ],
)
def test_each_sabotage_fails_its_own_gate_and_only_it(sabotage, gate, says):
    rng = np.random.default_rng(2)
    log = pd.concat([_log(rng, "2026-10-01", **sabotage), _log(rng, "2026-10-02", **sabotage)], ignore_index=True)
    gates = _gates(log, _config(max_latency_ms=0.05))
    failed = [name for name, g in gates.items() if not g.passed]
    assert failed == [gate], [g.line() for g in gates.values()]
    assert says in gates[gate].detail, gates[gate].detail


def test_the_window_counts_only_this_version_since_the_trial_began():
    since = "2026-10-01T00:00:00+00:00"
    summaries = [
        {"date": "2026-09-30", "scored_at": "2026-09-30T06:00:00+00:00", "trial": {"version": 2, "rows": 50}},
        {
            "date": "2026-10-01",
            "scored_at": "2026-10-01T06:00:00+00:00",
            "trial": {"version": 2, "rows": 90, "errors": 1},
        },
        {"date": "2026-10-02", "scored_at": "2026-10-02T06:00:00+00:00", "trial": {"version": 3, "rows": 70}},
        {"date": "2026-10-03", "scored_at": "2026-10-03T06:00:00+00:00"},
        {"date": "2026-10-04", "scored_at": "2026-10-04T06:00:00+00:00", "trial": {"version": 2, "rows": 80}},
        {"date": "2026-10-05", "scored_at": "2026-10-05T06:00:00Z", "trial": {"version": 2, "rows": 0}},  # no run
    ]
    assert trials.count_window(summaries, "2", since) == {
        "rows": 170,
        "errors": 1,
        "runs": 2,
        "dates": ["2026-10-01", "2026-10-04"],
    }


def _events(trigger: Any) -> list[Any]:
    async def first() -> Any:
        async for event in trigger.run():
            return event

    return [asyncio.run(asyncio.wait_for(first(), timeout=20))]


def test_the_trigger_fires_when_the_window_is_there_and_at_the_deadline(tmp_path):
    from mlops_provider.triggers.trial import TrialWindowTrigger

    since = datetime.now(UTC) - timedelta(minutes=5)
    for day, rows in (("2026-10-01", 120), ("2026-10-02", 130)):
        part = tmp_path / f"scoring_date={day}"
        part.mkdir()
        summary = {"date": day, "scored_at": datetime.now(UTC).isoformat(), "trial": {"version": 2, "rows": rows}}
        (part / "_serving.json").write_text(json.dumps(summary))
    kwargs = {"prediction_root": str(tmp_path), "version": "2", "since": since.isoformat(), "poll_seconds": 0.2}

    ready = TrialWindowTrigger(min_rows=200, min_runs=2, deadline=(since + timedelta(hours=1)).isoformat(), **kwargs)
    (event,) = _events(ready)
    assert event.payload["status"] == "ready" and event.payload["rows"] == 250 and event.payload["runs"] == 2

    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    short = TrialWindowTrigger(min_rows=1000, min_runs=2, deadline=soon, **kwargs)
    (event,) = _events(short)
    assert event.payload["status"] == "timeout" and event.payload["rows"] == 250

    path, args = short.serialize()
    assert path == "mlops_provider.triggers.trial.TrialWindowTrigger"
    assert TrialWindowTrigger(**args).serialize() == (path, args)


def test_by_default_only_the_error_rate_is_a_gate():
    data = yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text())
    data["deploy"] = {"strategy": "shadow"}
    config = PipelineConfig.model_validate(data)
    rng = np.random.default_rng(3)
    log = pd.concat([_log(rng, "2026-10-01", shift=0.3, slow=100.0)], ignore_index=True)
    log["route"] = log["route"].replace("canary", "shadow")
    gates = {g.gate: g for g in trials.evaluate(log, config, "shadow")}
    assert list(gates) == ["error_rate"] and gates["error_rate"].passed


def _labeled(log: pd.DataFrame, rng: np.random.Generator, *, flip_canary: bool = False) -> pd.DataFrame:
    """Outcomes drawn from the champion's own scores (so its roc_auc is well above 0.5); the canary's rows can be
    given the opposite outcome, which makes its ranking worse than chance."""
    outcome = (rng.random(len(log)) < log["score"]).astype(int)
    if flip_canary:
        canary = (log["route"] == "canary").to_numpy()
        outcome[canary] = 1 - outcome[canary]
    return pd.DataFrame({"customer_id": log["entity_key"], "churned": outcome})


def test_the_label_metric_compares_the_trial_with_the_champion_on_labeled_rows():
    from mlops_provider.modeling import Labels

    rng = np.random.default_rng(4)
    log = pd.concat([_log(rng, "2026-10-01"), _log(rng, "2026-10-02")], ignore_index=True)
    truth = Labels("binary", (0, 1), 1, "recorded at training")
    config = _config(label_metric={"labels_source": "churn/outcomes", "max_drop": 0.05, "min_labeled_rows": 100})

    healthy = {g.gate: g for g in trials.evaluate(log, config, "canary", _labeled(log, rng), truth)}
    gate = healthy["label_metric.roc_auc"]
    assert gate.passed and "on 400 labeled trial rows vs champion" in gate.detail and "allowed drop 0.05" in gate.detail

    worse = {g.gate: g for g in trials.evaluate(log, config, "canary", _labeled(log, rng, flip_canary=True), truth)}
    gate = worse["label_metric.roc_auc"]
    assert not gate.passed and gate.value is not None and gate.value < 0.5, gate.detail

    few = _labeled(log, rng).iloc[150:350]  # labels so far: 50 canary rows and 150 champion rows
    gate = {g.gate: g for g in trials.evaluate(log, config, "canary", few, truth)}["label_metric.roc_auc"]
    assert gate.passed and gate.detail.startswith("skipped: 50 trial and 150 champion rows have labels; 100 needed")
    strict = _config(label_metric={"labels_source": "churn/outcomes", "if_unavailable": "fail"})
    gate = {g.gate: g for g in trials.evaluate(log, strict, "canary", None, truth)}["label_metric.roc_auc"]
    assert not gate.passed and gate.detail == "not available: no labels read from churn/outcomes"


class _Picky:
    """A binary classifier that cannot score rows whose ``x`` is negative (or any row, with ``always``)."""

    classes_ = np.array([0, 1])

    def __init__(self, always: bool = False) -> None:
        self.always = always

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if self.always or (X["x"] < 0).any():
            raise ValueError("cannot score a negative x")
        p = 1 / (1 + np.exp(-X["x"].to_numpy()))
        return np.column_stack([1 - p, p])


def test_a_trial_model_loses_only_the_rows_it_cannot_score_and_never_raises():
    X = pd.DataFrame({"x": [0.5, -1.0, 2.0, -3.0, 1.0]}, index=[10, 11, 12, 13, 14])
    frame, errors, ms = trials.guarded_predict(_Picky(), X, "classification")
    assert errors == ["", "ValueError: cannot score a negative x", "", "ValueError: cannot score a negative x", ""]
    assert list(frame.index) == list(X.index) and frame.loc[[11, 13], "score"].isna().all()
    expected = 1 / (1 + np.exp(-np.array([0.5, 2.0, 1.0])))
    assert np.allclose(frame.loc[[10, 12, 14], "score"], expected) and ms >= 0

    many = pd.DataFrame({"x": np.linspace(-1, 1, 500)})
    frame, errors, _ = trials.guarded_predict(_Picky(always=True), many, "classification")
    tried = [e for e in errors if not e.endswith("(not tried row by row)")]
    assert len(errors) == 500 and all(errors)
    assert len(tried) == trials.FAIL_FAST_ROWS  # 50 failures in a row: the other 450 are not tried one by one
    assert list(frame.index) == list(many.index) and frame.columns.empty


class _FixedCost:
    """A binary classifier with a fixed cost per call (``per_call`` s) and next to none per row, whose first
    ``slow_calls`` calls also wait ``stall`` s (a worker busy with something else)."""

    classes_ = np.array([0, 1])

    def __init__(self, per_call: float, stall: float = 0.0, slow_calls: int = 0) -> None:
        self.per_call, self.stall, self.slow_calls, self.calls = per_call, stall, slow_calls, 0

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        import time

        self.calls += 1
        time.sleep(self.per_call + (self.stall if self.calls <= self.slow_calls else 0.0))
        p = np.full(len(X), 0.3)
        return np.column_stack([1 - p, p])


def test_a_canary_is_compared_with_the_champion_on_its_own_rows_and_a_stall_does_not_count():
    X = pd.DataFrame({"x": np.arange(1000, dtype="float64")})
    canary_rows = X.iloc[:200]
    # the same model as champion and canary: a fixed 20 ms per call is 0.1 ms per row on the canary's 200 rows,
    # 0.02 ms per row on the champion's whole 1,000; on the same rows the two agree
    trial = _FixedCost(0.02, stall=0.3, slow_calls=2)  # the warm-up row and the first timed call stall 0.3 s
    _, errors, trial_ms = trials.guarded_predict(trial, canary_rows, "classification")
    assert not any(errors) and trial.calls == 1 + trials.TIMED_CALLS
    assert 20 <= trial_ms < 150, trial_ms  # the fastest call counts, not the stalled one
    champion_same_rows = trials.baseline_ms(_FixedCost(0.02), canary_rows, "classification")
    assert champion_same_rows is not None and 0.1 <= champion_same_rows < 0.75
    assert trials.baseline_ms(_FixedCost(0.02), X.iloc[:0], "classification") is None

    rng = np.random.default_rng(3)
    days = ["2026-10-01", "2026-10-02"]
    log = pd.concat([_log(rng, d, slow=trial_ms / 200 / 0.01) for d in days], ignore_index=True)
    gate = {
        g.gate: g
        for g in trials.evaluate(
            log, _config(max_latency_ms=1.0), "canary", baseline=dict.fromkeys(days, champion_same_rows)
        )
    }["latency_p95_ms"]
    assert gate.passed, gate.line()
    assert f"champion on the same rows {champion_same_rows:.3f} ms" in gate.detail
    # without the figure (logs written before it existed) the gate falls back to the champion's whole batches
    old = {g.gate: g for g in trials.evaluate(log, _config(max_latency_ms=1.0), "canary")}["latency_p95_ms"]
    assert "champion 0.010 ms" in old.detail and "same rows" not in old.detail
