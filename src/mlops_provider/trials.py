"""Trials of a new version on real traffic (``deploy.strategy`` canary or shadow): routing, the window, the gates.

* **Routing** (:func:`canary_share`): a row goes to the canary when a stable hash of the model name and its
  entity key falls below ``deploy.canary.fraction``; the same entity goes to the same version on every run and
  every machine (sha256, not Python's salted ``hash``).
* **The window** (:func:`count_window`): what the scoring runs since the trial began gave it, read from the
  small ``_serving.json`` summary scoring writes next to each date's log, so the triggerer that waits for the
  window never opens a parquet file.
* **The gates** (:func:`evaluate`): error rate, latency p95 and prediction shift of the trial version against
  the champion on the same window, from the prediction log, each with value, threshold and verdict.
* **Latency** (:func:`timed_predict`): the trial's batch and, for comparison, the champion on the very same
  rows are timed the same way: single-threaded, best of :data:`TIMED_CALLS` calls. A canary's batch is a
  fraction of the champion's, so per-row figures of different batch sizes would charge the canary its fixed
  per-call cost several times over; and thread pools sized for every core turn a busy worker's wait into
  model time.

pandas and numpy are imported inside functions: the trigger imports this module in the triggerer.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.config import PipelineConfig
    from mlops_provider.modeling import Labels

#: ``route`` values of the prediction log: which version a row was meant for.
ROUTE_CHAMPION, ROUTE_CANARY, ROUTE_SHADOW = "champion", "canary", "shadow"


def canary_share(model: str, keys: Iterable[Any]) -> list[float]:
    """Each key's place in [0, 1): the first 8 bytes of sha256("<model>:<key>") over 2**64."""
    out = []
    for key in keys:
        digest = hashlib.sha256(f"{model}:{key}".encode()).digest()
        out.append(int.from_bytes(digest[:8], "big") / 2**64)
    return out


def to_canary(model: str, keys: Iterable[Any], fraction: float) -> list[bool]:
    """Which rows the canary scores: those whose :func:`canary_share` is below ``fraction``."""
    return [share < fraction for share in canary_share(model, keys)]


# -- the window ---------------------------------------------------------------------------------------------


def count_window(summaries: Iterable[Mapping[str, Any]], version: str, since: str) -> dict[str, Any]:
    """Rows and scoring runs the trial of ``version`` got, from the dates' serving summaries written at or after
    ``since`` (ISO time); a run counts when at least one row went to the trial. Returns ``{"rows", "errors",
    "runs", "dates"}``."""
    from datetime import datetime

    start = datetime.fromisoformat(since)
    rows = errors = 0
    dates = []
    for summary in summaries:
        trial = summary.get("trial") or {}
        if str(trial.get("version")) != str(version) or not int(trial.get("rows", 0)):
            continue
        try:
            if datetime.fromisoformat(str(summary.get("scored_at"))) < start:
                continue
        except ValueError:  # a summary without a readable time is not this trial's evidence
            continue
        rows += int(trial.get("rows", 0))
        errors += int(trial.get("errors", 0))
        dates.append(str(summary.get("date")))
    return {"rows": rows, "errors": errors, "runs": len(dates), "dates": sorted(dates)}


# -- the gates ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialGate:
    """One trial gate: its value against its threshold."""

    gate: str
    value: float | None
    threshold: float | None
    passed: bool
    detail: str

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return f"{self.gate}: {verdict} ({self.detail})"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("value", "threshold"):
            if isinstance(out[key], float) and not math.isfinite(out[key]):
                out[key] = None
        return out


def trial_rows(log: pd.DataFrame, strategy: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows routed to the trial (errors included), and the champion's served rows (canary: the rows the
    champion was meant for; shadow: every served row). ``log`` holds the dates the trial took part in."""
    route = ROUTE_CANARY if strategy == "canary" else ROUTE_SHADOW
    if "route" not in log.columns:  # written before trials existed
        empty = log.iloc[0:0]
        return empty, empty
    trial = log[log["route"] == route]
    champion = log[log["served"].astype(bool) & (log["route"] == ROUTE_CHAMPION)]
    return trial, champion


def main_prediction_column(task: str, log: pd.DataFrame) -> tuple[str, str]:
    """The column a shift is measured on, and its kind: regression -> the predicted value; binary with
    probabilities -> the positive-class score; otherwise the predicted class (categorical)."""
    if task == "regression":
        return "prediction", "numeric"
    probas = [c for c in log.columns if c.startswith("proba.")]
    if len(probas) == 2 and "score" in log.columns and log["score"].notna().any():
        return "score", "numeric"
    return "prediction", "categorical"


def evaluate(
    log: pd.DataFrame,
    config: PipelineConfig,
    strategy: str,
    labels: pd.DataFrame | None = None,
    truth: Labels | None = None,
    baseline: Mapping[str, float | None] | None = None,
) -> list[TrialGate]:
    """The trial gates on the window's prediction log: the dates the trial took part in (:func:`count_window`).

    :param labels: the rows of ``deploy.canary.gates.label_metric.labels_source`` (entity key and target), when
        that gate is configured.
    :param truth: the champion's labels (classes, positive class), to compute the label metric as training does.
    :param baseline: per scoring date, the champion's ms per row on the trial's rows (:func:`baseline_ms`, kept in
        the date's serving summary as ``trial.champion_ms_per_row``): what the latency gate shows beside the trial.
    """
    import numpy as np

    from mlops_provider.monitoring.engine import compute_drift

    gates_cfg = config.deploy.canary.gates
    trial, champion = trial_rows(log, strategy)
    attempted = len(trial)
    failed = trial[trial["error"].fillna("").astype(str) != ""] if attempted else trial
    scored = trial.drop(failed.index) if attempted else trial
    results = []

    rate = len(failed) / attempted if attempted else float("nan")
    examples = sorted(set(failed["error"].astype(str)))[:2] if len(failed) else []
    results.append(
        TrialGate(
            "error_rate",
            rate,
            gates_cfg.max_error_rate,
            attempted > 0 and rate <= gates_cfg.max_error_rate,
            f"{len(failed):,} of {attempted:,} rows failed ({rate:.2%}) vs max {gates_cfg.max_error_rate:.2%}"
            + (f"; e.g. {'; '.join(examples)}" if examples else ""),
        )
    )

    if gates_cfg.max_latency_ms is not None:
        per_batch = scored.groupby("scoring_date")["latency_ms"].max() if len(scored) else scored["latency_ms"]
        p95 = float(np.percentile(per_batch, 95)) if len(per_batch) else float("nan")
        same_rows = [float(v) for d, v in (baseline or {}).items() if d in set(per_batch.index) and v is not None]
        if same_rows:  # the champion timed on the trial's own rows, the same way
            champ_p95 = float(np.percentile(same_rows, 95))
            versus = f"champion on the same rows {champ_p95:.3f} ms"
        else:  # logs written before that figure existed: the champion's whole batches
            champ = champion.groupby("scoring_date")["latency_ms"].max() if len(champion) else champion["latency_ms"]
            versus = f"champion {float(np.percentile(champ, 95)) if len(champ) else float('nan'):.3f} ms"
        results.append(
            TrialGate(
                "latency_p95_ms",
                p95,
                gates_cfg.max_latency_ms,
                bool(p95 <= gates_cfg.max_latency_ms),
                f"p95 {p95:.3f} ms per row over {len(per_batch)} batch(es) vs max {gates_cfg.max_latency_ms:g} ms; "
                + versus,
            )
        )

    shift_cfg = gates_cfg.prediction_shift
    if shift_cfg is not None:
        column, kind = main_prediction_column(config.task, log)
        if len(scored) and len(champion):
            ref = champion[[column]].reset_index(drop=True)
            cur = scored[[column]].reset_index(drop=True)
            if kind == "numeric":
                ref, cur = ref.astype("float64"), cur.astype("float64")
            else:
                ref, cur = ref.astype(str), cur.astype(str)
            settings = {"method": shift_cfg.method, "threshold": shift_cfg.threshold} if kind == "numeric" else None
            drift = compute_drift(
                ref,
                cur,
                [column] if kind == "numeric" else [],
                [column] if kind == "categorical" else [],
                per_column={column: settings} if settings else None,
            ).columns[0]
            mean = ""
            if kind == "numeric":
                mean = f"; mean {float(ref[column].mean()):.4f} → {float(cur[column].mean()):.4f}"
            results.append(
                TrialGate(
                    "prediction_shift",
                    drift.score,
                    drift.threshold,
                    not drift.drifted,
                    f"{column} {drift.method} {drift.score:.4f} vs threshold {drift.threshold:g} "
                    f"({len(cur):,} trial rows against {len(ref):,} champion rows{mean})",
                )
            )
        else:
            results.append(
                TrialGate(
                    "prediction_shift",
                    None,
                    shift_cfg.threshold,
                    False,
                    f"not measurable: {len(scored):,} trial rows scored, {len(champion):,} champion rows",
                )
            )
    if gates_cfg.label_metric is not None:
        results.append(label_gate(scored, champion, labels, config, truth))
    return results


def _side_metric(
    rows: pd.DataFrame, labels: pd.DataFrame, config: PipelineConfig, truth: Labels, name: str
) -> tuple[float, int]:
    """The metric ``name`` of one side's rows that have a label, and how many they are."""
    import numpy as np

    from mlops_provider.modeling import Predictions, metric, proba_column

    target = config.data.target
    joined = rows.merge(labels, left_on="entity_key", right_on="__key", how="inner")
    proba = None
    columns = [proba_column(c) for c in truth.classes]
    if truth.kind != "regression" and columns and all(c in joined.columns for c in columns):
        proba = joined[columns].to_numpy(dtype="float64")
    p = Predictions(joined["prediction"].to_numpy(), proba, truth.classes, truth)
    return metric(name, np.asarray(joined[target].to_numpy()), p), len(joined)


def label_gate(
    trial: pd.DataFrame,
    champion: pd.DataFrame,
    labels: pd.DataFrame | None,
    config: PipelineConfig,
    truth: Labels | None,
) -> TrialGate:
    """The trial's metric against the champion's on the labeled rows of the window (``label_metric``)."""
    from mlops_provider.modeling import MetricUnavailable, higher_is_better

    gate_cfg = config.deploy.canary.gates.label_metric
    assert gate_cfg is not None
    name = gate_cfg.metric or config.primary_metric
    gate = f"label_metric.{name}"

    def unavailable(reason: str) -> TrialGate:
        skip = gate_cfg.if_unavailable == "skip"
        return TrialGate(gate, None, gate_cfg.max_drop, skip, f"{'skipped' if skip else 'not available'}: {reason}")

    if labels is None or truth is None:
        return unavailable(f"no labels read from {gate_cfg.labels_source}")
    key, target = config.data.entity_key, config.data.target
    if key not in labels.columns or target not in labels.columns:
        return unavailable(f"{gate_cfg.labels_source} lacks column {key!r} or {target!r}")
    table = labels[[key, target]].dropna().assign(__key=lambda t: t[key].astype(str))
    table = table.drop_duplicates("__key", keep="last")[["__key", target]]
    try:
        trial_value, trial_rows = _side_metric(trial, table, config, truth, name)
        champion_value, champion_rows = _side_metric(champion, table, config, truth, name)
    except MetricUnavailable as exc:
        return unavailable(str(exc))
    need = gate_cfg.min_labeled_rows
    if trial_rows < need or champion_rows < need:
        return unavailable(
            f"{trial_rows:,} trial and {champion_rows:,} champion rows have labels; {need:,} needed each"
        )
    drop = champion_value - trial_value if higher_is_better(name) else trial_value - champion_value
    return TrialGate(
        gate,
        trial_value,
        gate_cfg.max_drop,
        drop <= gate_cfg.max_drop,
        f"{name} {trial_value:.4f} on {trial_rows:,} labeled trial rows vs champion {champion_value:.4f} on "
        f"{champion_rows:,}: {'drop' if drop > 0 else 'gain'} {abs(drop):.4f}, allowed drop {gate_cfg.max_drop:g}",
    )


def window_gate(window: Mapping[str, Any], min_rows: int, min_runs: int, waited_hours: float) -> TrialGate:
    """The window itself as a gate: enough rows and runs before ``max_wait_hours``."""
    rows, runs = int(window.get("rows", 0)), int(window.get("runs", 0))
    ok = rows >= min_rows and runs >= min_runs
    return TrialGate(
        "window",
        float(rows),
        float(min_rows),
        ok,
        f"{rows:,} rows in {runs} scoring run(s) (need {min_rows:,} in {min_runs}) after "
        + (f"{waited_hours:.1f} h" if waited_hours >= 2 else f"{waited_hours * 60:.1f} min"),
    )


def summary_line(strategy: str, version: str, gates: Sequence[TrialGate]) -> str:
    failed = [g for g in gates if not g.passed]
    verdict = "passed" if not failed else f"failed {', '.join(g.gate for g in failed)}"
    return f"{strategy} trial of v{version} {verdict}: " + "; ".join(g.line() for g in gates)


# -- scoring a trial ------------------------------------------------------------------------------------------


def warm_up(model: Any, X: pd.DataFrame, task: str) -> None:
    """One untimed prediction of a single row, so the timed batch measures the model, not a freshly loaded
    model's first call (thread pools, lazy set-up: about 0.2 s, which would dominate a small batch's figure).
    Errors are left to the real call."""
    from mlops_provider.modeling import predict

    try:
        predict(model, X.iloc[:1], task)
    except Exception:
        pass


#: Timed calls of a trial's batch (and of the champion on the same rows); the fastest counts, since a busy
#: worker only ever adds time. Batches over :data:`REPEAT_MAX_ROWS` rows are timed once: their fixed per-call
#: cost is small beside the rows, and a second call would double a large batch's scoring.
TIMED_CALLS = 3
REPEAT_MAX_ROWS = 20_000


def timed_predict(model: Any, X: pd.DataFrame, task: str) -> tuple[Any, float]:
    """``predict(model, X, task)`` and its wall-clock ms: single-threaded (BLAS and OpenMP pools at one thread,
    joblib sequential, as the training latency gate measures), best of :data:`TIMED_CALLS` calls for batches up
    to :data:`REPEAT_MAX_ROWS` rows. The first call's output is returned; errors propagate from it."""
    import time

    from joblib import parallel_config
    from threadpoolctl import threadpool_limits

    from mlops_provider.modeling import predict

    calls = TIMED_CALLS if len(X) <= REPEAT_MAX_ROWS else 1
    best = math.inf
    out: Any = None
    with threadpool_limits(limits=1), parallel_config(backend="sequential"):
        for i in range(calls):
            started = time.perf_counter()
            p = predict(model, X, task)
            best = min(best, (time.perf_counter() - started) * 1000)
            if i == 0:
                out = p
    return out, best


def baseline_ms(model: Any, X: pd.DataFrame, task: str) -> float | None:
    """The champion's ms per row on a trial's rows ``X``, timed as :func:`timed_predict` times the trial: what the
    trial's latency is compared with. None when there are no rows or the champion fails on them."""
    if not len(X):
        return None
    try:
        warm_up(model, X, task)
        return timed_predict(model, X, task)[1] / len(X)
    except Exception:
        return None


#: Rows tried one at a time to find those a trial version cannot score; after this many, or once this many
#: have failed in a row from the start, the rest of the batch counts as failed with the last error.
MAX_ROW_BY_ROW = 5_000
FAIL_FAST_ROWS = 50


def guarded_predict(model: Any, X: pd.DataFrame, task: str) -> tuple[pd.DataFrame, list[str], float]:
    """The prediction columns of ``model`` on ``X`` (index of ``X``), the error of each row ("" when it scored)
    and the time of the batch prediction in ms. A batch the model cannot score is tried again one row at a
    time (bounded: :data:`MAX_ROW_BY_ROW`, :data:`FAIL_FAST_ROWS`) to find the rows it fails on; the others are
    then scored as one batch and timed, so the latency is the model's, not the search's. Rows it cannot score
    have empty prediction columns. Nothing it raises reaches the caller: a version on trial never fails the
    scoring task."""
    import pandas as pd

    from mlops_provider.modeling import predict, prediction_columns

    def score(rows: pd.DataFrame) -> tuple[pd.DataFrame, float]:
        p, elapsed = timed_predict(model, rows, task)
        return pd.DataFrame(prediction_columns(p, task), index=rows.index), elapsed

    def text(exc: BaseException) -> str:
        return f"{type(exc).__name__}: {exc}"[:200]

    warm_up(model, X, task)
    try:
        frame, elapsed = score(X)
        return frame, [""] * len(X), elapsed
    except Exception as exc:
        last = text(exc)
    errors: list[str] = []
    for i in range(len(X)):
        if i >= MAX_ROW_BY_ROW or (i >= FAIL_FAST_ROWS and all(errors)):
            errors += [f"{last} (not tried row by row)"] * (len(X) - i)
            break
        try:
            predict(model, X.iloc[[i]], task)
            errors.append("")
        except Exception as exc:
            last = text(exc)
            errors.append(last)
    ok = X[[not e for e in errors]]
    if not len(ok):
        return pd.DataFrame(index=X.index), errors, 0.0
    try:
        frame, elapsed = score(ok)
    except Exception as exc:  # fails on the batch of rows it scored one by one: count them all as failed
        return pd.DataFrame(index=X.index), [e or text(exc) for e in errors], 0.0
    return frame.reindex(X.index), errors, elapsed
