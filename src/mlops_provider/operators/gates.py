"""Evaluate the config's gates on the holdout: nothing is registered unless every ``fail`` gate passes."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from mlops_provider.naming import GATES_ARTIFACT
from mlops_provider.operators.base import MlopsBaseOperator

if TYPE_CHECKING:
    import pandas as pd
    from airflow.sdk import Context

    from mlops_provider.config import PipelineConfig
    from mlops_provider.modeling import Labels


class GateFailed(AirflowFailException):
    """One or more ``fail`` gates did not pass; one line per failed gate, with numbers. Not retried."""


@dataclass
class GateResult:
    gate: str  # e.g. "metric.roc_auc", "champion.roc_auc", "latency.p95_ms_per_row", "fairness.region.recall"
    value: float | None
    threshold: float | None
    comparator: str  # ">=", "<=", "skipped"
    passed: bool
    severity: str
    detail: str
    skipped: bool = False  # not evaluated (no champion yet, or a metric not available with if_unavailable: skip)

    def line(self) -> str:
        if self.skipped:  # the detail says so: "skipped: no champion yet ...", "SKIPPED (if_unavailable: skip): ..."
            return f"{self.gate} {self.detail}"
        verdict = "passed" if self.passed else ("FAILED" if self.severity == "fail" else "warning")
        return f"{self.gate} {verdict}: {self.detail}"


def _unavailable(
    gate: str, threshold: float | None, severity: str, if_unavailable: str, what: str, required: str
) -> GateResult:
    """A gate whose metric cannot be computed: failed (default), or skipped when the config says so."""
    if if_unavailable == "skip":
        return GateResult(
            gate, None, threshold, "skipped", True, severity, f"SKIPPED (if_unavailable: skip): {what}", True
        )
    return GateResult(
        gate,
        None,
        threshold,
        "unavailable",
        False,
        severity,
        f"{what}; required {required} (set if_unavailable: skip on this gate to skip it instead)",
    )


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def metric_gates(
    config: PipelineConfig, metrics: Mapping[str, float], unavailable: Mapping[str, str] | None = None
) -> list[GateResult]:
    out = []
    for g in config.gates.metrics:
        value = metrics.get(g.metric)
        bounds = " and ".join(
            b for b in (f">= {g.min}" if g.min is not None else "", f"<= {g.max}" if g.max is not None else "") if b
        )
        if value is None or value != value:
            reason = (unavailable or {}).get(g.metric, "it was not computed")
            out.append(
                _unavailable(
                    f"metric.{g.metric}",
                    g.min if g.min is not None else g.max,
                    g.severity,
                    g.if_unavailable,
                    f"holdout {g.metric} not available: {reason}",
                    bounds,
                )
            )
            continue
        ok = True
        if g.min is not None:
            ok = value >= g.min
        if ok and g.max is not None:
            ok = value <= g.max
        out.append(
            GateResult(
                gate=f"metric.{g.metric}",
                value=value,
                threshold=g.min if g.min is not None else g.max,
                comparator=">=" if g.min is not None else "<=",
                passed=bool(ok),
                severity=g.severity,
                detail=f"holdout {g.metric} {_fmt(value)}, required {bounds}",
            )
        )
    return out


def champion_gate(
    config: PipelineConfig,
    challenger: float | None,
    champion: float | None,
    champion_version: str | None,
    error: str | None = None,
    challenger_unavailable: str | None = None,
) -> GateResult | None:
    from mlops_provider.modeling import higher_is_better

    g = config.gates.champion
    if g is None:
        return None
    name = g.metric or config.primary_metric
    if champion_version is None:
        return GateResult(
            f"champion.{name}",
            None,
            g.max_drop,
            "skipped",
            True,
            g.severity,
            f"skipped: no champion yet, so nothing to compare against (challenger {_fmt(challenger)})",
            True,
        )
    if challenger is None:
        return _unavailable(
            f"champion.{name}",
            g.max_drop,
            g.severity,
            g.if_unavailable,
            f"challenger {name} not available: {challenger_unavailable or 'it was not computed'}",
            f"a drop of at most {g.max_drop} against champion v{champion_version}",
        )
    if error is not None and error.startswith("not available: "):
        return _unavailable(
            f"champion.{name}",
            g.max_drop,
            g.severity,
            g.if_unavailable,
            f"champion v{champion_version} {name} {error}",
            f"a drop of at most {g.max_drop}",
        )
    if error is not None or champion is None:
        return GateResult(
            f"champion.{name}",
            None,
            g.max_drop,
            "<=",
            False,
            g.severity,
            f"champion v{champion_version} could not be scored on this holdout: {error}",
        )
    drop = (champion - challenger) if higher_is_better(name) else (challenger - champion)
    passed = drop <= g.max_drop + 1e-12
    return GateResult(
        f"champion.{name}",
        drop,
        g.max_drop,
        "<=",
        passed,
        g.severity,
        f"challenger {_fmt(challenger)} vs champion v{champion_version} {_fmt(champion)} "
        "on the same holdout: "
        f"drop {drop:+.4f}, allowed {g.max_drop}",
    )


def compare_with_champion(
    config: PipelineConfig,
    holdout: pd.DataFrame,
    challenger: float | None,
    champion_version: str | None,
    labels: Labels | None = None,
    challenger_unavailable: str | None = None,
) -> GateResult | None:
    """The champion gate: champion ``champion_version`` (loaded by that version, never by alias, so the
    alias cannot move in between) scored on the challenger's holdout, with the challenger's ``labels``
    (same classes and positive class, so both sides use one metric definition). None when no champion
    gate is set."""
    import mlflow

    from mlops_provider.modeling import evaluation

    if config.gates.champion is None:
        return None
    name = config.gates.champion.metric or config.primary_metric
    champ_value, error = None, None
    if champion_version is not None:
        try:
            champ = mlflow.sklearn.load_model(f"models:/{config.model}/{champion_version}")
            values, unavailable = evaluation(champ, holdout, config, labels)
            champ_value = values.get(name)
            if champ_value is None:
                error = f"not available: {unavailable.get(name, 'it was not computed')}"
        except Exception as exc:  # a champion that cannot score this data cannot be compared
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return champion_gate(config, challenger, champ_value, champion_version, error, challenger_unavailable)


#: Warm-up calls before each latency measurement (single-row; batches get 2): not timed.
LATENCY_WARMUP_CALLS = 5
#: A latency gate over its limit is measured again, up to this many rounds in all; the best round counts.
LATENCY_ROUNDS = 3
#: Timed batch calls per round at least (``repeats / 5`` when that is more).
LATENCY_MIN_BATCH_CALLS = 20
#: Timed single-row calls per round at least: a p95 of fewer calls is close to their maximum. A config's
#: ``repeats`` under this counts as this (configs written before the floor existed keep loading).
LATENCY_MIN_ROW_CALLS = 50


def _timed_calls(predict: Callable[[Any], Any], make_input: Callable[[int], Any], calls: int) -> tuple[Any, Any]:
    """CPU and wall-clock milliseconds of each of ``calls`` predict calls (inputs built outside the clocks)."""
    import numpy as np

    cpu, wall = np.empty(calls), np.empty(calls)
    for i in range(calls):
        x = make_input(i)
        c0, w0 = time.process_time(), time.perf_counter()
        predict(x)
        w1, c1 = time.perf_counter(), time.process_time()
        cpu[i], wall[i] = (c1 - c0) * 1000, (w1 - w0) * 1000
    return cpu, wall


def _ms(x: float) -> str:
    return f"{x:.2f}" if x < 100 else f"{x:.1f}"


def _latency_gate(
    gate: str,
    limit: float,
    severity: str,
    what: str,
    predict: Callable[[Any], Any],
    make_input: Callable[[int], Any],
    calls: int,
    warmup: int,
) -> GateResult:
    """One latency gate: warm-up, then rounds of ``calls`` timed calls until one round's p95 is within ``limit``
    (at most :data:`LATENCY_ROUNDS`). The verdict and the spread are those of the round with the lowest p95:
    a busy worker only ever adds time, so the best round is the closest to what the model itself costs."""
    import numpy as np

    for i in range(warmup):
        predict(make_input(i))
    rounds: list[tuple[float, Any, Any]] = []
    stop = ""
    for _ in range(LATENCY_ROUNDS):
        cpu, wall = _timed_calls(predict, make_input, calls)
        rounds.append((float(np.percentile(cpu, 95)), cpu, wall))
        if min(r[0] for r in rounds) <= limit:
            break
        if float(cpu.min()) > limit:
            stop = "; not measured again: every call took longer than the limit"
            break
    p95, cpu, wall = min(rounds, key=lambda r: r[0])
    c50, w50, w95 = (float(np.percentile(a, q)) for a, q in ((cpu, 50), (wall, 50), (wall, 95)))
    if len(rounds) > 1:
        per_round = ", ".join(_ms(r[0]) for r in rounds)
        stop = f"; measured {len(rounds)} times (p95 per round {per_round} ms), the lowest counts{stop}"
    return GateResult(
        gate,
        p95,
        limit,
        "<=",
        p95 <= limit,
        severity,
        f"p95 {_ms(p95)} ms per {what}, limit {limit:g} ms (CPU time, single-threaded, {calls} calls after "
        f"{warmup} warm-up calls: p50 {_ms(c50)} / p95 {_ms(p95)} / max {_ms(float(cpu.max()))} ms; wall clock "
        f"p50 {_ms(w50)} / p95 {_ms(w95)} / max {_ms(float(wall.max()))} ms{stop})",
    )


def latency_gates(config: PipelineConfig, model: Any, X: pd.DataFrame) -> list[GateResult]:
    """The latency gates of the config on holdout rows ``X``; measured so that a busy worker does not flip them.

    Prediction runs single-threaded (BLAS and OpenMP pools limited to one thread, joblib sequential): on a
    shared worker, thread pools sized for every core fight the other tasks and their time explodes. Each call
    is timed by the CPU time the process spends on it, which waiting for a CPU does not add to; the wall clock
    is reported next to it. See :func:`_latency_gate` for the rounds.
    """
    import numpy as np
    from joblib import parallel_config
    from threadpoolctl import threadpool_limits

    g = config.gates.latency
    if g is None:
        return []
    predict = model.predict_proba if hasattr(model, "predict_proba") else model.predict
    out = []
    with threadpool_limits(limits=1), parallel_config(backend="sequential"):
        if g.p95_ms_per_row is not None:
            out.append(
                _latency_gate(
                    "latency.p95_ms_per_row",
                    g.p95_ms_per_row,
                    g.severity,
                    "single-row call",
                    predict,
                    lambda i: X.iloc[[i % len(X)]],
                    max(LATENCY_MIN_ROW_CALLS, g.repeats),
                    LATENCY_WARMUP_CALLS,
                )
            )
        if g.p95_ms_per_batch is not None:
            rng = np.random.default_rng(config.training.seed)
            batch = X.iloc[rng.integers(0, len(X), size=g.batch_size)]
            out.append(
                _latency_gate(
                    "latency.p95_ms_per_batch",
                    g.p95_ms_per_batch,
                    g.severity,
                    f"batch of {g.batch_size} rows",
                    predict,
                    lambda i: batch,
                    max(LATENCY_MIN_BATCH_CALLS, g.repeats // 5),
                    2,
                )
            )
    return out


def fairness_gates(config: PipelineConfig, model: Any, holdout: pd.DataFrame) -> list[GateResult]:
    import pandas as pd

    from mlops_provider.modeling import MetricUnavailable, features_frame, metric, predict

    out: list[GateResult] = []
    if not config.gates.fairness:
        return out
    # one prediction pass, the model's own classes and positive class: the same metric definitions as training
    p_all = predict(model, features_frame(holdout, config), config.task)
    y_all = holdout[config.data.target].to_numpy()
    for i, g in enumerate(config.gates.fairness):
        per_group: dict[str, float] = {}
        small = []
        not_available: dict[str, str] = {}
        setting = f"gates.fairness[{i}].min_rows = {g.min_rows}"
        for value, idx in holdout.groupby(g.slice, dropna=False, sort=True).indices.items():
            group = "(missing)" if pd.isna(value) else str(value)  # NaN, None, pd.NA slice values
            if len(idx) < g.min_rows:
                small.append(f"{group} ({len(idx)})")
                continue
            try:
                per_group[group] = metric(g.metric, y_all[idx], p_all.subset(idx))
            except MetricUnavailable as exc:
                not_available[group] = str(exc)
        name = f"fairness.{g.slice}.{g.metric}"
        if len(per_group) < 2 and not_available:
            reasons = "; ".join(f"{g.slice}={k}: {v}" for k, v in not_available.items())
            out.append(
                _unavailable(
                    name,
                    g.max_gap,
                    g.severity,
                    g.if_unavailable,
                    f"{g.metric} not available for enough groups of '{g.slice}' ({reasons})",
                    f"a gap of at most {g.max_gap}",
                )
            )
            continue
        if len(per_group) < 2:
            out.append(
                GateResult(
                    name,
                    None,
                    g.max_gap,
                    "<=",
                    False,
                    g.severity,
                    f"fewer than two groups of '{g.slice}' with at least {setting} holdout rows"
                    f"{' (smaller: ' + ', '.join(small) + ')' if small else ''}; the gap cannot be measured "
                    f"(lower gates.fairness[{i}].min_rows for a small data set, or check the slice column)",
                )
            )
            continue
        best = max(per_group, key=per_group.__getitem__)
        worst = min(per_group, key=lambda k: (per_group[k], k == best))  # on a tie, never the same group twice
        gap = per_group[best] - per_group[worst]
        groups = ", ".join(f"{k}={v:.3f}" for k, v in per_group.items())
        note = f"; groups under {setting} holdout rows not compared: {', '.join(small)}" if small else ""
        between = (
            f"all {len(per_group)} groups of {g.slice} equal ({per_group[best]:.4f})"
            if gap == 0
            else f"between {g.slice}={best} ({per_group[best]:.4f}) and {g.slice}={worst} ({per_group[worst]:.4f})"
        )
        out.append(
            GateResult(
                name,
                gap,
                g.max_gap,
                "<=",
                gap <= g.max_gap + 1e-12,
                g.severity,
                f"{g.metric} gap {gap:.4f} {between}, allowed {g.max_gap} [{groups}]{note}",
            )
        )
    return out


class EvaluateGatesOperator(MlopsBaseOperator):
    """Evaluate every gate of the config on the trained model's holdout and log the results to MLflow.

    :param training: output of :class:`TrainModelOperator` (templated).
    :return: ``{"passed", "results": [GateResult...], "failed": [...], "warnings": [...],
        "champion_version", "mlflow_run_id", "model_uri"}``
    :raises GateFailed: a ``fail`` gate did not pass; the message has one line per failed gate.
    """

    template_fields: Sequence[str] = ("training",)
    ui_color = "#f8d7da"

    def __init__(self, *, training: Mapping[str, Any] | Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.training = training

    def execute(self, context: Context) -> dict[str, Any]:
        import mlflow

        cfg = self.pipeline
        tr = dict(self.training)
        run_id = tr["mlflow_run_id"]
        holdout = self.mlflow_hook.load_holdout(run_id)
        model = mlflow.sklearn.load_model(tr["model_uri"])
        metrics = dict(tr["metrics"])
        unavailable = dict(tr.get("unavailable_metrics") or {})
        results = metric_gates(cfg, metrics, unavailable)
        champion_version = self.mlflow_hook.registry.champion(self.model_name)
        if cfg.gates.champion is not None:
            from mlops_provider.modeling import model_labels

            name = cfg.gates.champion.metric or cfg.primary_metric
            gate = compare_with_champion(
                cfg,
                holdout,
                metrics.get(name),
                champion_version,
                model_labels(model, cfg.task),
                unavailable.get(name),
            )
            if gate is not None:
                results.append(gate)
        from mlops_provider.modeling import features_frame

        results += latency_gates(cfg, model, features_frame(holdout, cfg))
        results += fairness_gates(cfg, model, holdout)

        failed = [r for r in results if not r.passed and r.severity == "fail"]
        warnings = [r for r in results if not r.passed and r.severity == "warn"]
        payload = [asdict(r) for r in results]
        safe = {r.gate.replace(".", "_"): r.value for r in results if r.value is not None and r.value == r.value}
        with self.mlflow_run(run_id):
            mlflow.log_metrics({f"gate_{k}": float(v) for k, v in safe.items()})
            mlflow.log_dict({"results": payload, "champion_version": champion_version}, GATES_ARTIFACT)
            mlflow.set_tag("mlops.gates_passed", str(not failed).lower())
        for r in results:
            (self.log.info if r.passed else self.log.warning)("Gate %s", r.line())
        if failed:
            lines = "\n".join(f"  - {r.line()}" for r in failed)
            raise GateFailed(
                f"{len(failed)} of {len(results)} gates failed for {self.model_name} (MLflow run {run_id}); "
                f"the model is not registered and the champion is unchanged:\n{lines}"
            )
        return {
            "passed": True,
            "results": payload,
            "failed": [],
            "warnings": [asdict(r) for r in warnings],
            "champion_version": champion_version,
            "mlflow_run_id": run_id,
            "model_uri": tr["model_uri"],
        }
