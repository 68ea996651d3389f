"""Drift checks fanned out by column group across the Celery workers of the distributed mode, on a wide table.

    python benchmarks/drift_fanout.py [--features 400] [--rows 40000] [--groups 0,100,50] [--keep]

Starts the distributed mode on this machine (:class:`mlops_provider.demo.cluster.Cluster`: CeleryExecutor on the
PostgreSQL at 127.0.0.1:5432 and the Redis at 127.0.0.1:6379, two Celery workers of concurrency 2, an MLflow
server, moto's S3; it needs both services up and prints ``drift_fanout=skipped`` otherwise). Then, as a user of
that deployment would:

1. uploads a wide labeled table to S3: ``--features`` float columns, ``--rows`` rows over 30 days, a binary
   label from 10 of the columns; and one day of served rows (``--rows`` rows) in which half of the columns moved
   (a mean shift of 0.5 std);
2. trains the model (logistic regression) and scores that day, through the model's DAGs;
3. runs the drift DAG once per ``--groups`` value: 0 is the whole check in one task (``column_group_size:
   null``), N is ``column_group_size: N`` (one mapped ``feature_drift`` task per N columns, then
   ``check_drift`` merges them and renders the report); the config is rewritten and the DAG parsed again
   between runs.

Per run it prints the run's wall time (start to end of the DAG run, as the UI shows it), the sum of its tasks'
times, the mapped tasks and the workers they ran on, and whether the verdicts (drifted columns, drift share)
equal those of the single-task run. The last line is ``drift_fanout_speedup=<single run s / best fanned run s>``.
Everything the cluster made is dropped at the end (``--keep`` keeps its folder, not its databases).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
DAY = "2026-08-01"


def write_data(folder: Path, features: int, rows: int, seed: int = 0) -> list[str]:
    """Labeled partitions (30 days) and one served day under ``folder``; the feature names."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    names = [f"x{j:04d}" for j in range(features)]
    weights = np.zeros(features)
    weights[:10] = rng.normal(0, 1, 10)

    def frame(n: int, days: list[str], shift: float) -> pd.DataFrame:
        x = rng.normal(0, 1, (n, features)).astype(np.float32)
        x[:, features // 2 :] += shift  # the second half of the columns moved
        logit = x.astype(np.float64) @ weights
        df = pd.DataFrame(x, columns=names)
        df["label"] = (logit + rng.logistic(size=n) > 0).astype("int64")
        df["id"] = [f"c{i}" for i in range(n)]
        df["event_date"] = pd.to_datetime(np.array(days)[rng.integers(0, len(days), n)])
        return df

    days = [str(d.date()) for d in pd.date_range(end="2026-07-31", periods=30)]
    labeled = frame(rows, days, 0.0)
    (folder / "labeled").mkdir(parents=True)
    for day, part in labeled.groupby(labeled["event_date"].dt.strftime("%Y-%m-%d")):
        part.to_parquet(folder / "labeled" / f"{day}.parquet", index=False)
    served = frame(rows, [DAY], 0.5).drop(columns=["label"])
    (folder / "current").mkdir(parents=True)
    served.to_parquet(folder / "current" / f"{DAY}.parquet", index=False)
    return names


def config(features: list[str], group: int) -> dict[str, Any]:
    return {
        "model": "wide",
        "owner": "bench",
        "task": "classification",
        "schedule": {"training": None},
        "data": {
            "source": "wide/labeled",
            "format": "parquet",
            "target": "label",
            "time_column": "event_date",
            "entity_key": "id",
            "window_days": 30,
            "features": {"numeric": features},
        },
        "expectations": [{"expect_table_row_count_to_be_between": {"min_value": 1000}}],
        "training": {
            "estimator": {"class": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 300}},
            "seed": 1,
            "primary_metric": "roc_auc",
        },
        "scoring": {"source": "wide/current/{{ ds }}.parquet", "schedule": None},
        "drift": {
            "schedule": None,
            "window_days": 1,
            "cooldown_hours": 0,
            "report_rows": 1000,
            "column_group_size": group or None,
        },
        "gates": {
            "metrics": [{"metric": "roc_auc", "min": 0.5}],
            "latency": {"p95_ms_per_row": 1000, "p95_ms_per_batch": 100000, "severity": "warn"},
        },
        "airflow": {"retries": 0},
    }


def _seconds(ti: dict[str, Any]) -> float:
    return float(ti.get("duration") or 0.0)


def _wall(run: dict[str, Any]) -> float:
    start = datetime.fromisoformat(str(run["start_date"]).replace("Z", "+00:00"))
    end = datetime.fromisoformat(str(run["end_date"]).replace("Z", "+00:00"))
    return (end - start).total_seconds()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=400)
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--groups", default="0,100,50", help="column_group_size per drift run; 0: one task")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    from mlops_provider.demo.cluster import Cluster, free_port, services_up

    if not services_up():
        print("PostgreSQL (127.0.0.1:5432) or Redis (127.0.0.1:6379) is not up")
        print("drift_fanout=skipped")
        return 0

    groups = [int(g) for g in args.groups.split(",")]
    root = Path(tempfile.mkdtemp(prefix="mlops-fanout-"))
    dags = root / "dags"
    (dags / "configs").mkdir(parents=True)
    for f in (REPO / "dags").glob("*.py"):
        shutil.copy(f, dags / f.name)
    cluster = Cluster(home=root / "state", dags_folder=dags, port=free_port())
    results: list[dict[str, Any]] = []
    try:
        started = time.perf_counter()
        cluster.init()
        cluster.start()
        cluster.wait_ready()
        cluster.wait_workers()
        print(f"cluster up in {time.perf_counter() - started:.0f} s: {cluster.workers} Celery workers x "
              f"concurrency {cluster.worker_concurrency}, MLflow server, S3 (moto)")  # fmt: skip
        names = write_data(root / "data", args.features, args.rows)
        cluster.upload(root / "data", "data/wide")
        cfg_path = dags / "configs" / "wide.yaml"
        cfg_path.write_text(yaml.safe_dump(config(names, groups[0])))
        for dag in ("wide_training", "wide_scoring", "wide_drift"):
            cluster.wait_for_dag(dag, timeout=300)
        for dag, when in (("wide_training", None), ("wide_scoring", f"{DAY}T06:00:00+00:00")):
            run = cluster.wait_for_run(dag, cluster.trigger(dag, when), timeout=1800)
            if run["state"] != "success":
                raise SystemExit(f"{dag} failed; see {cluster.home / 'logs'} and the task logs")
            print(f"{dag}: {_wall(run):.1f} s")
        print(f"\nwide table: {args.features} features x {args.rows:,} rows (served day and reference each)")
        print(f"{'groups':>12} {'run_s':>7} {'tasks_s':>8} {'mapped':>6}  workers            verdicts")
        for i, group in enumerate(groups):
            if i:
                parsed = cluster.api("dags/wide_drift/details")["last_parsed_time"]
                cfg_path.write_text(yaml.safe_dump(config(names, group)))
                _wait_for_parse(cluster, group, parsed)
            run_id = cluster.trigger("wide_drift", f"{DAY}T07:{i:02d}:00+00:00")
            run = cluster.wait_for_run("wide_drift", run_id, timeout=1800)
            tis = cluster.task_instances("wide_drift", run_id)
            checked = any(t["task_id"] == "check_drift" and t["state"] == "success" for t in tis)
            if not checked:
                raise SystemExit(f"wide_drift run {run_id} failed; see the task logs under {cluster.home}")
            check = cluster.xcom("wide_drift", run_id, "check_drift")
            mapped = [t for t in tis if t["task_id"] == "feature_drift"]
            drift_tasks = [t for t in tis if t["task_id"] in ("feature_drift", "check_drift")]
            hosts = sorted({t["hostname"] for t in drift_tasks})
            results.append(
                {
                    "group": group,
                    "run_s": _wall(run),
                    "tasks_s": sum(_seconds(t) for t in drift_tasks),
                    "mapped": len(mapped),
                    "hosts": hosts,
                    "verdict": (tuple(check["drifted_columns"]), round(float(check["drift_share"]), 6)),
                }
            )
            r = results[-1]
            same = "equal" if r["verdict"] == results[0]["verdict"] else "DIFFER"
            label = "one task" if not group else f"{group} cols"
            print(f"{label:>12} {r['run_s']:7.1f} {r['tasks_s']:8.1f} {r['mapped']:6d}  {','.join(hosts):18} "
                  f"{same} ({len(r['verdict'][0])} drifted)")  # fmt: skip
    finally:
        cluster.destroy()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    single = next((r for r in results if not r["group"]), None)
    fanned = [r for r in results if r["group"]]
    if single and fanned:
        best = min(fanned, key=lambda r: r["run_s"])
        print(f"\nbest fan-out: groups of {best['group']} columns ({best['mapped']} mapped tasks)")
        print(f"drift_fanout_speedup={single['run_s'] / best['run_s']:.2f}")
    return 0


def _wait_for_parse(cluster: Any, group: int, parsed_before: str, timeout: float = 300) -> None:
    """Wait until the drift DAG was parsed after its config changed, with (or without) the mapped task."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        parsed = cluster.api("dags/wide_drift/details")["last_parsed_time"]
        tasks = {t["task_id"] for t in cluster.api("dags/wide_drift/tasks")["tasks"]}
        if parsed != parsed_before and ("feature_drift" in tasks) == bool(group):
            return
        time.sleep(2)
    raise TimeoutError("the drift DAG was not parsed again after its config changed")


if __name__ == "__main__":
    sys.exit(main())
