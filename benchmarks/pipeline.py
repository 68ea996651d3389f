"""Overhead of the training DAG over a bare script that does the same fit + MLflow log.

    python benchmarks/pipeline.py [--rows 60000] [--repeats 2] [--scheduler]

Both sides run in a fresh interpreter on the demo's example data and are timed wall-clock from process
start to exit (imports included on both sides):

* bare: read the labeled partitions, take the 90-day window, split, fit the same scikit-learn pipeline,
  log params, metrics, the dataset and the model to MLflow the same way the pipeline does. Nothing else.
* DAG: ``dag.test()`` of ``churn_training``: snapshot + Great Expectations, train + MLflow, gates
  (metrics, champion, latency, fairness), register with lineage, promote.

``--scheduler`` also runs the DAG under a real scheduler (LocalExecutor, one process per task) and prints
that run's duration; the ratio on the last line uses the ``dag.test()`` figure.
Last line: ``pipeline_overhead=<dag/bare>``.
"""

from __future__ import annotations

import argparse
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

REPO = Path(__file__).resolve().parents[1]

BARE = r"""
import sys, time
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
"""

DAG_TEST = r"""
import sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
run = bag.dags["churn_training"].test()
print("state=" + str(run.state))
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
                },
            }
        ),
        "GX_ANALYTICS_ENABLED": "false",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return elapsed, out.stdout.strip().splitlines()[-1]


def _scheduler_run(root: Path, rows: int) -> float:
    from mlops_provider.demo.stack import Stack

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    stack = Stack(home=root / "stack", dags_folder=root / "dags", port=port)
    shutil.copytree(root / "data", stack.home / "data")
    stack.init()
    stack.start()
    try:
        stack.wait_ready()
        stack.wait_for_dag("churn_training")
        run_id = stack.trigger("churn_training")
        run = stack.wait_for_run("churn_training", run_id)
        if run["state"] != "success":
            raise SystemExit(f"scheduler run failed: {run}")
        from datetime import datetime

        return (datetime.fromisoformat(run["end_date"]) - datetime.fromisoformat(run["start_date"])).total_seconds()
    finally:
        stack.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=60_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--scheduler", action="store_true", help="also time a run under a real scheduler")
    args = ap.parse_args()
    from mlops_provider.demo.data import write_labeled

    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as tmp:
        root = Path(tmp)
        write_labeled(root / "data", rows=args.rows)
        shutil.copytree(REPO / "dags", root / "dags", ignore=shutil.ignore_patterns("__pycache__"))
        env = _env(root)
        subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True)
        bare, dag = [], []
        for _ in range(args.repeats):
            t, line = _timed(
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
            bare.append(t)
            t, line2 = _timed([sys.executable, "-c", DAG_TEST, str(root / "dags")], env)
            if line2 != "state=success":
                raise SystemExit(f"training DAG did not succeed: {line2}")
            dag.append(t)
        mb, md = statistics.median(bare), statistics.median(dag)
        print(f"rows={args.rows} repeats={args.repeats} ({line})")
        print(f"bare script (fit + MLflow log)      : median {mb:.1f} s  runs {', '.join(f'{x:.1f}' for x in bare)}")
        print(f"training DAG (dag.test, 5 tasks)    : median {md:.1f} s  runs {', '.join(f'{x:.1f}' for x in dag)}")
        if args.scheduler:
            print(
                f"training DAG under the scheduler    : run duration {_scheduler_run(root, args.rows):.1f} s "
                "(one process per task, plus scheduling gaps)"
            )
        print(f"pipeline_overhead={md / mb:.2f}")


if __name__ == "__main__":
    main()
