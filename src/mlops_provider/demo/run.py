"""``make demo``: the full training loop on the embedded stack, with a summary a person can act on.

python -m mlops_provider.demo.run            # start (or reuse) the stack, train churn, summarize
python -m mlops_provider.demo.run --stop     # stop every process this demo started
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlops_provider.demo.stack import Stack

MODEL = "churn"


def _say(text: str = "") -> None:
    print(text, flush=True)


def _progress_printer() -> Any:
    seen: dict[str, str] = {}
    started = time.monotonic()

    def show(run: dict[str, Any], tis: list[dict[str, Any]]) -> None:
        for ti in sorted(tis, key=lambda t: t.get("start_date") or "9999"):
            state = ti.get("state") or "queued"
            if seen.get(ti["task_id"]) != state:
                seen[ti["task_id"]] = state
                _say(f"  [{time.monotonic() - started:6.1f}s] {ti['task_id']:<16} {state}")

    return show


def _duration(ti: dict[str, Any]) -> str:
    d = ti.get("duration")
    return f"{d:6.1f}s" if isinstance(d, int | float) else "     - "


def _generated_rows(stack: Stack) -> tuple[int, int]:
    """Rows and daily partitions of the labeled example data on disk (read from the parquet footers)."""
    import pyarrow.parquet as pq

    files = sorted((stack.home / "data" / MODEL / "labeled").rglob("*.parquet"))
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files), len(files)


def _origin(client: Any, version: str) -> str:
    """Which Airflow run made ``version``, in words: "run manual__... (manual) of 2026-11-27 09:40 UTC"."""
    tags = client.get_model_version(MODEL, version).tags or {}
    run_id = tags.get("mlops.airflow_run_id", "?")
    try:
        run_type = json.loads(tags.get("mlops.trigger", "{}")).get("run_type", "?")
    except ValueError:
        run_type = "?"
    created = datetime.fromtimestamp(client.get_model_version(MODEL, version).creation_timestamp / 1000, UTC)
    return f"run {run_id} ({run_type}) of {created:%Y-%m-%d %H:%M} UTC"


def summarize(stack: Stack, dag_id: str, run_id: str, run: dict[str, Any], *, explain: bool = True) -> str:
    from mlflow.tracking import MlflowClient

    lines = [f"Run {run_id} of {dag_id}: {run['state'].upper()}"]
    tis = stack.task_instances(dag_id, run_id)
    order = ["validate_data", "train", "evaluate_gates", "register", "promote"]
    lines.append("Tasks:")
    for ti in sorted(tis, key=lambda t: order.index(t["task_id"]) if t["task_id"] in order else 99):
        lines.append(f"  {ti['task_id']:<16} {ti.get('state')!s:<14} {_duration(ti)}")
    xcom = {}
    for task in order:
        try:
            xcom[task] = stack.xcom(dag_id, run_id, task)
        except Exception:
            xcom[task] = None
    val = xcom.get("validate_data")
    if val:
        v = val["validation"]
        generated, days = _generated_rows(stack)
        lines.append(
            f"Data: {val['rows']:,} rows in the training window {val['window_start']}..{val['window_end']} "
            f"(sha256 {val['data_sha256'][:12]}); Great Expectations: {v['evaluated'] - v['failed']}"
            f"/{v['evaluated']} expectations passed"
        )
        if explain:
            span = (datetime.fromisoformat(val["window_end"]) - datetime.fromisoformat(val["window_start"])).days + 1
            lines.append(
                f"  The example data holds {generated:,} labeled customers over {days} days with fixed dates (so "
                f"every demo trains on the same rows); the config's data.window_days keeps the {val['rows']:,} rows "
                f"of the last {span} days up to the newest one."
            )
    tr = xcom.get("train")
    if tr:
        m = tr["metrics"]
        lines.append(
            f"Model: trained on {tr['train_rows']:,} rows in {tr['fit_seconds']:.1f}s; holdout "
            f"({tr['holdout_rows']:,} rows) roc_auc {m.get('roc_auc', float('nan')):.4f}, "
            f"recall {m.get('recall', float('nan')):.4f}, f1 {m.get('f1', float('nan')):.4f}"
        )
        if explain:
            share = tr["holdout_rows"] / max(1, tr["train_rows"] + tr["holdout_rows"])
            lines.append(
                f"  training.test_size {share:.2g} holds {tr['holdout_rows']:,} of the window's rows back (seed "
                f"{tr['seed']}): the gates below score the model on rows it never saw."
            )
    gates = xcom.get("evaluate_gates")
    if gates:
        lines.append("Gates:")
        for g in gates["results"]:
            verdict = "pass" if g["passed"] else ("FAIL" if g["severity"] == "fail" else "warn")
            lines.append(f"  {verdict:<4} {g['gate']:<28} {g['detail']}")
    elif run["state"] == "failed":
        lines.append(f"The run failed; the alert text is in {stack.home / 'outbox.jsonl'} and the task log.")
    client = MlflowClient(tracking_uri=stack.mlflow_uri, registry_uri=stack.mlflow_uri)
    reg = xcom.get("register")
    if reg:
        lines.append(f"Registered: {reg['name']} v{reg['version']} (MLflow run {reg['mlflow_run_id']})")
    from mlops_provider.hooks.registry import ModelRegistry
    from mlops_provider.naming import PREVIOUS_CHAMPION

    registry = ModelRegistry(client)
    champ = registry.champion(MODEL)
    if champ is not None:
        prev = registry.alias(MODEL, PREVIOUS_CHAMPION)
        lines.append(f"Champion: {MODEL} v{champ}" + (f" (previous champion v{prev})" if prev else ""))
        if prev and explain:
            lines.append(
                f"  v{prev} was there before this run: made by {_origin(client, prev)}, e.g. an earlier "
                f"`make demo` in {stack.home} (delete that folder to start from v1)."
            )
    else:
        lines.append(f"Champion: none yet for {MODEL}")
    try:
        report = stack.xcom(dag_id, run_id, "cost_report")
    except Exception:
        report = None
    if report:
        c = report["cost"]
        lines.append(
            f"Cost: ${c['total_usd']:.6f} = compute ${c['compute_usd']:.6f} ({c['task_seconds']:.1f} task seconds) + "
            f"storage ${c['storage_usd']:.6f} ({c['stored_bytes'] / 1e6:.1f} MB kept a month); rates: {report['rates']}"
        )
        if explain:
            lines.append(f"  Every run's cost is in MLflow (experiment {MODEL}-cost): `mlops cost {MODEL}`.")
    return "\n".join(lines)


CLEAN_DAYS = ("2026-09-29", "2026-09-30")
DRIFT_DAY = "2026-10-01"
#: The demo's scheduled DAGs: paused at the end, since the example data does not grow with the calendar.
#: ``<model>_rollback`` has no schedule: it runs only when someone triggers it, so it needs no pausing.
DAGS = (f"{MODEL}_training", f"{MODEL}_scoring", f"{MODEL}_drift")


def _backfill(stack: Stack, dag_id: str, first: str, last: str) -> list[tuple[dict[str, Any], str]]:
    """Run ``dag_id`` for the days ``first``..``last`` as a backfill (re-running days an earlier demo ran):
    ``airflow backfill create --dag-id <dag> --from-date <first> --to-date <last> --reprocess-behavior completed``."""
    out = []
    for run in stack.backfill(dag_id, f"{first}T00:00:00+00:00", f"{last}T23:59:59+00:00"):
        _say(f"  {dag_id:<16} {str(run['logical_date'])[:10]}  {run['state']}  (backfill)")
        out.append((run, str(run["dag_run_id"])))
    return out


def drift_loop(stack: Stack) -> tuple[list[str], bool]:
    """Score clean days, then drifted ones; the drift check retrains; returns (summary lines, ok)."""
    from mlflow.tracking import MlflowClient

    from mlops_provider.demo import data

    client = MlflowClient(tracking_uri=stack.mlflow_uri, registry_uri=stack.mlflow_uri)
    from mlops_provider.hooks.registry import ModelRegistry

    old = str(ModelRegistry(client).champion(MODEL))
    data.write_current(stack.home / "data", start=CLEAN_DAYS[0], days=3, drift_from=DRIFT_DAY)
    for dag in (f"{MODEL}_scoring", f"{MODEL}_drift"):
        stack.wait_for_dag(dag)
    _say(f"== Serving: score {len(CLEAN_DAYS)} ordinary days with the champion v{old}, then check drift")
    _backfill(stack, f"{MODEL}_scoring", CLEAN_DAYS[0], CLEAN_DAYS[-1])
    ((_, clean_run),) = _backfill(stack, f"{MODEL}_drift", CLEAN_DAYS[-1], CLEAN_DAYS[-1])
    clean = stack.xcom(f"{MODEL}_drift", clean_run, "check_drift")
    _say(f"  {clean['summary']}")

    _say(f"== {DRIFT_DAY}: customers change (higher charges, more support calls, more monthly contracts)")
    _backfill(stack, f"{MODEL}_scoring", DRIFT_DAY, DRIFT_DAY)
    # labels for the changed world keep arriving: the retrain learns from them
    data.write_labeled(stack.home / "data", start="2026-06-01", days=150, drift_from="2026-09-29")
    ((run, drift_run),) = _backfill(stack, f"{MODEL}_drift", DRIFT_DAY, DRIFT_DAY)
    check = stack.xcom(f"{MODEL}_drift", drift_run, "check_drift")
    _say(f"  {check['summary']}")
    lines = [
        f"Drift, ordinary days: {clean['summary']}",
        f"Drift, {DRIFT_DAY}: drifted features {', '.join(check['drifted_columns']) or 'none'}; "
        f"report {check['report_uri']}",
    ]
    if not check["decision"]["emit"]:
        lines.append(f"No retrain: {check['decision']['reason']}")
        return lines, run["state"] == "success"
    # when the drift event went out: the emit task's end (the run itself ends later, after its cost report)
    emitted = [t for t in stack.task_instances(f"{MODEL}_drift", drift_run) if t["task_id"] == "emit_drift_event"]
    detected = datetime.fromisoformat(emitted[0]["end_date"] if emitted else run["end_date"])
    _say(f"== Drift event emitted: waiting for {MODEL}_training to run on it")
    deadline, asset_run = time.monotonic() + 900, None
    while time.monotonic() < deadline and asset_run is None:
        asset_run = next(
            (
                r
                for r in stack.runs(f"{MODEL}_training")
                if r["run_type"] == "asset_triggered"
                and datetime.fromisoformat(r["run_after"]) >= detected - timedelta(seconds=5)
            ),
            None,
        )
        time.sleep(3)
    if asset_run is None:
        lines.append("Retraining was requested but no asset-triggered training run started within 15 minutes")
        return lines, False
    done = stack.wait_for_run(f"{MODEL}_training", asset_run["dag_run_id"], on_progress=_progress_printer())
    _say()
    _say("== Summary of the drift-triggered retraining")
    _say(summarize(stack, f"{MODEL}_training", asset_run["dag_run_id"], done, explain=False))
    _say()
    new = str(ModelRegistry(client).champion(MODEL))
    minutes = (datetime.fromisoformat(done["end_date"]) - detected).total_seconds() / 60
    shift = check["prediction"]["mean_shift"]
    if done["state"] == "success" and new != old:
        lines.append(
            f"Prediction distribution shifted {shift:+.0%} from baseline "
            f"({len(check['drifted_columns'])} of {len(check['columns'])} features drifted); retraining "
            f"triggered; new model v{new} promoted {minutes:.1f} min later (previous champion v{old})."
        )
    elif any(
        t["task_id"] == "train" and t.get("state") == "skipped"
        for t in stack.task_instances(f"{MODEL}_training", asset_run["dag_run_id"])
    ):
        lines.append(
            f"Prediction distribution shifted {shift:+.0%} from baseline; retraining triggered, but the retrain "
            f"found the very data, config and code of champion v{new} (no new labeled rows since): nothing was "
            "trained or registered, and a person was alerted (see the alerts file)."
        )
    else:
        lines.append(
            f"Prediction distribution shifted {shift:+.0%} from baseline; retraining triggered "
            f"({done['state']}), champion still v{new}: see the training run's gates."
        )
    return lines, done["state"] == "success"


def alerts_since(outbox: Path, since: str) -> list[str]:
    """The alerts in ``outbox`` from ``since`` on (ISO time), one line each: the kind and the headline."""
    if not outbox.is_file():
        return []
    lines = []
    for raw in outbox.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if str(record.get("at", "")) < since:
            continue
        headline = str(record.get("text", "")).splitlines()[0] if record.get("text") else ""
        lines.append(f"  [{record.get('kind', 'alert')}] {headline}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=os.environ.get("MLOPS_HOME", ".mlops"))
    parser.add_argument("--dags", default=str(Path(__file__).resolve().parents[3] / "dags"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("MLOPS_API_PORT", "28080")))
    parser.add_argument("--stop", action="store_true", help="stop the demo's Airflow processes and exit")
    parser.add_argument("--training-only", action="store_true", help="train once; skip scoring and drift")
    args = parser.parse_args(argv)
    stack = Stack(home=Path(args.home).resolve(), dags_folder=Path(args.dags), port=args.port)
    if args.stop:
        stopped = stack.stop()
        _say(
            f"Stopped: {', '.join(stopped) or 'nothing was running'}. State kept in {stack.home} "
            f"(delete it to start from scratch)."
        )
        return 0

    t0 = time.monotonic()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    _say(f"== Embedded MLOps stack in {stack.home}")
    labeled = stack.home / "data" / MODEL / "labeled"
    if not labeled.exists():
        from mlops_provider.demo import data

        files = data.write_labeled(stack.home / "data")
        _say(f"   example data: {len(files)} daily partitions of labeled customers under {labeled}")
    _say("   migrating the Airflow database (SQLite) ...")
    stack.init()
    _say("   starting scheduler, dag-processor, triggerer, api-server ...")
    stack.start()
    stack.wait_ready()
    from mlops_provider.demo import canary

    dag_id = f"{MODEL}_training"
    stack.wait_for_dag(dag_id)
    canary_first = None if args.training_only else canary.first_version(stack)  # runs beside churn's training
    run_id = stack.trigger(dag_id)
    _say(f"== Triggered {dag_id} (airflow dags trigger {dag_id}): run {run_id}")
    run = stack.wait_for_run(dag_id, run_id, on_progress=_progress_printer())
    _say()
    _say("== Summary of training")
    _say(summarize(stack, dag_id, run_id, run))
    _say()
    ok = run["state"] == "success"
    if ok and not args.training_only:
        from mlops_provider.demo import data

        data.write_current(stack.home / "data", start=CLEAN_DAYS[0], days=3, drift_from=DRIFT_DAY)
        canary_lines, ok = canary.canary_round(stack, canary_first, CLEAN_DAYS)
        _say()
        loop_lines, loop_ok = drift_loop(stack)
        ok = ok and loop_ok
        _say()
        _say("== Summary of the loop")
        for line in [*loop_lines, *canary_lines]:
            _say(line)
        _say()
    alerts = alerts_since(stack.home / "outbox.jsonl", started)
    _say(f"== Alerts this run sent ({len(alerts)}; no Slack connection is configured, so they are in the outbox)")
    for line in alerts:
        _say(line)
    _say()
    paused = (*DAGS, *canary.DAGS)
    for dag in paused:
        stack.pause(dag)
    _say(
        f"Paused {', '.join(paused)}: the example data does not grow with the calendar, so their schedules "
        "(training 02:00, scoring 06:00, drift 07:00 UTC) would find no new data. Unpause one with "
        "`airflow dags unpause <dag>` once it has real data."
    )
    _say(f"Demo took {time.monotonic() - t0:.0f}s. Where to look:")
    _say(f"  Airflow UI   {stack.api_url}  (user admin, password {stack.password()})")
    _say(f"  Dashboard    {stack.api_url}/mlops/  (also under MLOps in the Airflow UI's menu; docs/dashboard.md)")
    _say("  Health       mlops status  (exit 1 when a model needs attention; from a shell that sourced env.sh)")
    _say(f"  MLflow UI    .venv/bin/mlflow ui --backend-store-uri {stack.mlflow_uri} --port 5000")
    _say(f"  Alerts       {stack.home / 'outbox.jsonl'} (no Slack connection configured; docs/alerts.md)")
    _say(f"  Incidents    mlops incidents {MODEL}")
    _say(f"  Roll back    airflow dags trigger {MODEL}_rollback  (docs/runbooks/bad-model-in-production.md)")
    _say(f"  From a shell source {stack.env_file}: then `airflow dags list`, `mlops lineage {MODEL} 1` work as is")
    _say(f"Still running: Airflow {', '.join(stack.running())} (logs in {stack.home / 'logs'}).")
    _say("Stop them with: make stop")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
