"""Overhead of the training DAG over a bare script that does the same fit + MLflow log.

    python benchmarks/pipeline.py [--rows 60000] [--repeats 3] [--warmup 1] [--scheduler]

Both sides run on the demo's example data, each in a fresh interpreter:

* bare: read the labeled partitions, take the 90-day window, split, fit the same scikit-learn pipeline,
  log params, metrics, the dataset and the model to MLflow the same way the pipeline does. Nothing else.
  Its time is the work: from spawning the interpreter to the end of the script (imports included).
* DAG: ``dag.test()`` of ``churn_training``: snapshot + Great Expectations, train + MLflow, gates
  (metrics, champion, latency, fairness), register with lineage, promote. Its time is the DAG run's
  duration as Airflow records it (run start to run end; each task imports what it uses inside it, as
  the bare script does).

What the ``dag.test()`` process spends around the run is printed too, and not counted: importing
Airflow and parsing the dags folder, starting the in-process execution API (built, and one request
served, before the run, as a deployment's API server is up before any DAG runs) and interpreter exit.
``process_overhead`` compares the two whole processes. A deployed Airflow pays none of those per run,
but it pays a process per task and scheduling gaps instead: ``--scheduler`` runs the DAG on a real
scheduler (the embedded stack) ``warmup + repeats`` times in a row and prints the median of the counted
runs' durations and ``scheduler_overhead`` (that median over the bare work's), and, beside it, the first
run on the fresh stack alone (``scheduler_overhead_first``, what a single ``--scheduler`` run reported
before runs were repeated). When PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are up, ``--scheduler``
also runs them on the distributed mode (``mlops_provider.demo.cluster``: CeleryExecutor, two warm workers, the
MLflow server, the data on S3) and prints ``scheduler_overhead_celery``; ``--no-celery`` skips that.

Last line: ``pipeline_overhead=<median DAG run / median bare work>``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

BARE = r"""
import json, sys, time
from pathlib import Path
import mlflow, pandas as pd
from mlflow.models import infer_signature
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

spawned = float(sys.argv[4])
root, uri = Path(sys.argv[1]), sys.argv[2]
num = ["tenure_months", "monthly_charges", "total_charges", "support_calls", "usage_minutes", "late_payments"]
cat = ["plan", "contract", "payment_method", "region"]
df = pd.concat([pd.read_parquet(p) for p in sorted(root.rglob("*.parquet"))], ignore_index=True)
end = df["event_date"].max()
df = df[df["event_date"] >= (end - pd.Timedelta(days=89)).normalize()]
train, test = train_test_split(df, test_size=0.2, random_state=42, stratify=df["churned"])
pre = ColumnTransformer([
    ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), num),
    ("categorical", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
                              ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]), cat)])
pipe = Pipeline([("preprocess", pre), ("model", HistGradientBoostingClassifier(
    max_iter=150, learning_rate=0.08, max_leaf_nodes=31, random_state=42))])
X = train[num + cat].astype({c: "float64" for c in num})
pipe.fit(X, train["churned"])
auc = roc_auc_score(test["churned"], pipe.predict_proba(test[num + cat].astype({c: "float64" for c in num}))[:, 1])
mlflow.set_tracking_uri(uri)
if mlflow.get_experiment_by_name("bare") is None:
    mlflow.create_experiment("bare", artifact_location=sys.argv[3])
mlflow.set_experiment("bare")
import skops.io as sio
with mlflow.start_run():
    mlflow.log_params({"max_iter": 150, "learning_rate": 0.08, "seed": 42})
    mlflow.log_metric("roc_auc", auc)
    mlflow.log_input(mlflow.data.from_pandas(df, source=str(root), targets="churned"), context="training")
    # the same model logging as the pipeline: skops format, signature, input example, pinned requirements
    mlflow.sklearn.log_model(pipe, name="model", signature=infer_signature(X.head(5), pipe.predict(X.head(5))),
                             input_example=X.head(5), skops_trusted_types=sio.get_untrusted_types(data=sio.dumps(pipe)),
                             pip_requirements=["scikit-learn", "pandas", "numpy", "skops"])
print(f"auc={auc:.4f}")
print(json.dumps({"work": time.time() - spawned}))
"""

DAG_TEST = r"""
import json, sys, time
spawned = float(sys.argv[2])
import httpx
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.execution_time.supervisor import in_process_api_server
bag = DagBag(dag_folder=sys.argv[1])
parsed = time.time()
# dag.test() talks to an execution API it builds in-process on first use: build it and serve one request
# first, as a deployment's API server is up before any DAG runs.
api = in_process_api_server()
with httpx.Client(transport=api.transport, base_url="http://in-process.invalid") as client:
    client.get("/execution/")
warmed = time.time()
run = bag.dags["churn_training"].test()
done = time.time()
tis = sorted(run.get_task_instances(), key=lambda ti: ti.start_date)
print(json.dumps({
    "state": str(run.state),
    "startup": parsed - spawned,
    "api_warmup": warmed - parsed,
    "run": (run.end_date - run.start_date).total_seconds(),
    "tasks": {ti.task_id: (ti.end_date - ti.start_date).total_seconds() for ti in tis},
    "work": done - spawned,
}))
"""


def _env(root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__MLOPS__DATA_ROOT": str(root / "data"),
        "AIRFLOW__MLOPS__OUTBOX_PATH": str(root / "outbox.jsonl"),
        "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps(
            {
                "conn_type": "mlflow",
                "extra": {
                    "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
                    "artifact_root": str(root / "artifacts"),
                    "create_if_missing": True,
                },
            }
        ),
        "GX_ANALYTICS_ENABLED": "false",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, dict[str, Any], str]:
    """Run ``cmd`` (passing the spawn time as its last argument); its wall time, last-line JSON, other output."""
    spawned = time.time()
    start = time.perf_counter()
    out = subprocess.run([*cmd, repr(spawned)], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    lines = out.stdout.strip().splitlines()
    return elapsed, json.loads(lines[-1]), "\n".join(lines[:-1])


def _scheduler_runs(root: Path, runs: int, executor: str | None, celery: bool = False) -> list[dict[str, Any]]:
    """Trigger the training DAG ``runs`` times, one after the other, on one embedded stack (or, with ``celery``,
    on the distributed mode: CeleryExecutor on PostgreSQL and Redis, two warm workers, the MLflow server, the
    data on S3); each run's duration (run start to run end, as Airflow records it), its tasks' durations and
    the gaps between them."""
    from datetime import datetime

    from mlops_provider.demo.cluster import Cluster
    from mlops_provider.demo.stack import Stack

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    stack: Any
    if celery:
        stack = Cluster(home=root / "cluster", dags_folder=root / "dags", port=port)
        stack.init()
        stack.upload(root / "data" / "churn", "data/churn")
    else:
        stack = Stack(home=root / "stack", dags_folder=root / "dags", port=port)
        if executor:
            stack = Stack(home=stack.home, dags_folder=stack.dags_folder, port=port, executor=executor)
        shutil.copytree(root / "data", stack.home / "data")
        stack.init()
    stack.start()
    out = []
    try:
        stack.wait_ready()
        if celery:
            stack.wait_workers()
        stack.wait_for_dag("churn_training")
        for _ in range(runs):
            run_id = stack.trigger("churn_training")
            run = stack.wait_for_run("churn_training", run_id)
            if run["state"] != "success":
                raise SystemExit(f"scheduler run failed: {run}")
            tis = sorted(stack.task_instances("churn_training", run_id), key=lambda ti: ti["start_date"])
            started, ended = datetime.fromisoformat(run["start_date"]), datetime.fromisoformat(run["end_date"])
            gaps = [
                (datetime.fromisoformat(b["start_date"]) - datetime.fromisoformat(a["end_date"])).total_seconds()
                for a, b in itertools.pairwise(tis)
            ]
            out.append(
                {
                    "run": (ended - started).total_seconds(),
                    "tasks": {ti["task_id"]: float(ti["duration"]) for ti in tis},
                    "gaps": sum(gaps),
                }
            )
    finally:
        stack.destroy() if celery else stack.stop()
    return out


def _print_runs(where: str, counted: list[dict[str, Any]], note: str) -> float:
    """Print the counted runs (median run, each run, median per task, gaps); return the median run."""
    run = statistics.median([r["run"] for r in counted])
    tasks = {k: statistics.median([r["tasks"][k] for r in counted]) for k in counted[-1]["tasks"]}
    print(
        f"training DAG {where}: run {run:.1f} s  runs {', '.join(format(r['run'], '.1f') for r in counted)}  "
        f"(median per task: {_fmt_tasks(tasks)}; gaps between tasks "
        f"{statistics.median([r['gaps'] for r in counted]):.1f} s; {note})"
    )
    return run


def _fmt_tasks(tasks: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in tasks.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=60_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--warmup", type=int, default=1, help="rounds run first and not counted (they read everything cold from disk)"
    )
    ap.add_argument(
        "--scheduler",
        action="store_true",
        help="also time runs under a real scheduler (warmup + repeats runs, one after the other, on one stack)",
    )
    ap.add_argument(
        "--executor",
        default=None,
        help="the embedded stack's [core] executor for --scheduler (default: the stack's own)",
    )
    ap.add_argument(
        "--no-celery",
        action="store_true",
        help="with --scheduler, skip the distributed-mode runs (they run when PostgreSQL and Redis are up)",
    )
    args = ap.parse_args()
    from mlops_provider.demo.data import write_labeled

    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as tmp:
        root = Path(tmp)
        write_labeled(root / "data", rows=args.rows)
        shutil.copytree(REPO / "dags", root / "dags", ignore=shutil.ignore_patterns("__pycache__"))
        env = _env(root)
        subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True)
        bare: list[tuple[float, dict[str, Any]]] = []
        dag: list[tuple[float, dict[str, Any]]] = []
        auc = ""
        for round_ in range(args.warmup + args.repeats):
            counted = round_ >= args.warmup
            wall, result, auc = _timed(
                [
                    sys.executable,
                    "-c",
                    BARE,
                    str(root / "data"),
                    f"sqlite:///{root / 'bare.db'}",
                    str(root / "bare-artifacts"),
                ],
                env,
            )
            if counted:
                bare.append((wall, result))
            wall, result, _ = _timed([sys.executable, "-c", DAG_TEST, str(root / "dags")], env)
            if result["state"] != "success":
                raise SystemExit(f"training DAG did not succeed: {result}")
            if counted:
                dag.append((wall, result))

        def med(values: list[float]) -> float:
            return statistics.median(values)

        bare_work = med([r["work"] for _, r in bare])
        bare_wall = med([w for w, _ in bare])
        dag_run = med([r["run"] for _, r in dag])
        dag_wall = med([w for w, _ in dag])
        last = dag[-1][1]
        quality = auc.strip().splitlines()[-1] if auc.strip() else ""
        print(f"rows={args.rows} repeats={args.repeats} warmup={args.warmup} ({quality})")
        bare_runs = ", ".join(f"{r['work']:.1f}" for _, r in bare)
        dag_runs = ", ".join(f"{r['run']:.1f}" for _, r in dag)
        print(f"bare script (fit + MLflow log) : work {bare_work:.1f} s  runs {bare_runs}  (process {bare_wall:.1f} s)")
        print(f"training DAG run (dag.test)     : {dag_run:.1f} s  runs {dag_runs}  last: {_fmt_tasks(last['tasks'])}")
        print(
            "  dag.test() harness, not counted: "
            f"Airflow import + DAG parse {med([r['startup'] for _, r in dag]):.1f} s, "
            f"execution API start {med([r['api_warmup'] for _, r in dag]):.1f} s, "
            f"interpreter exit {med([w - r['work'] for w, r in dag]):.1f} s; "
            f"whole process {dag_wall:.1f} s"
        )
        print(f"process_overhead={dag_wall / bare_wall:.2f} (whole dag.test process / whole bare process)")
        if args.scheduler:
            from mlops_provider.demo.cluster import services_up

            runs = _scheduler_runs(root, args.warmup + args.repeats, args.executor)
            first = runs[0]
            sched_run = _print_runs("under the scheduler", runs[args.warmup :] or runs, "one process per task")
            print(
                f"  first run on the fresh stack (not counted): {first['run']:.1f} s "
                f"({_fmt_tasks(first['tasks'])}); as one first run: "
                f"scheduler_overhead_first={first['run'] / bare_work:.2f}"
            )
            print(f"scheduler_overhead={sched_run / bare_work:.2f} (median scheduler run / median bare work)")
            if args.no_celery or not services_up():
                why = "--no-celery" if args.no_celery else "PostgreSQL or Redis is not up"
                print(f"scheduler_overhead_celery=skipped ({why})")
            else:
                runs = _scheduler_runs(root, args.warmup + args.repeats, None, celery=True)
                note = "MLflow server and S3, where the bare work uses local files"
                celery_run = _print_runs("on the Celery workers", runs[args.warmup :] or runs, note)
                print(f"scheduler_overhead_celery={celery_run / bare_work:.2f} (median Celery run / median bare work)")
        print(f"pipeline_overhead={dag_run / bare_work:.2f}")


if __name__ == "__main__":
    main()
