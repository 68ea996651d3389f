"""The dashboard's overview with 50 models x 1,000 drift checks, as a user of a deployed Airflow sees it.

    python benchmarks/dashboard.py [--models 50] [--checks 1000] [--repeats 5] [--rebuild] [--profile]

Everything is measured over HTTP against a real ``airflow api-server`` (started with :class:`Stack`, only that
process), which serves the dashboard plugin from this environment:

* ``overview_cold_s``: ``GET /mlops/`` (the HTML page) with an empty cache, the headline. The plugin caches an
  answer for 30 s per credentials (``_user_key``: a digest of the token), so each cold request uses a token of
  its own, fetched from ``POST /auth/token`` before the clock starts;
* ``overview_warm_s``: the same page again with the same token, served from the cache;
* ``overview_json_cold_s``: ``GET /mlops/api/overview`` with a fresh token;
* ``model_page_cold_s``: ``GET /mlops/models/m00`` (its 1,000 drift checks, a month of runs) with a fresh token;
* ``first_request_s``: the server's first dashboard request (it builds the app and imports MLflow), not counted.

Medians of ``--repeats`` requests each. The last line is ``dashboard_overview_s=<median cold overview>``.

State lives in ``.mlops-bench/`` (``--home``) and is reused by later runs; ``--rebuild`` builds it again (so does
a state more than a day old: its runs would have left the overview's 7-day window). Building it:

1. A dags folder: the repository's two loader files, ``defaults.yaml`` and ``--models`` copies of ``churn.yaml``
   (``m00`` ... ``m49``), every fifth with a monthly budget; checked with ``mlops validate``.
2. MLflow (SQLite, as the embedded stack has it). Through MLflow's client: per model a training experiment with
   three runs, a registered model with a version from each (tags ``mlops.metrics``, ``mlops.gates``,
   ``mlops.promotion``), aliases ``champion`` and ``previous_champion``, and in its ``<model>-monitoring`` and
   ``<model>-cost`` experiments the newest run each (a drift check: drift share, verdict, prediction score, rows
   and 10 features' score, threshold and verdict; a cost report). The other 999 drift checks and 59 cost runs
   per model are copies of that client-made run written with plain SQL into MLflow's own tables (``runs``,
   ``tags``, ``metrics``, ``latest_metrics``), each with its own values and start time (one a day going back;
   cost: half of them this month). Why: through the client a drift check costs about 24 ms on this machine
   (create, log_batch, terminate), 20 minutes for 50,000 of them; the copy takes seconds. The script then reads
   one model's checks back with ``MlflowClient.search_runs`` and stops if they do not come back whole.
3. Airflow: ``airflow dags reserialize`` puts the 250 DAGs in the metadata DB (the REST API returns runs only
   of DAGs it knows); the DAG runs, one a day for 7 days of every model's training, scoring and drift DAG (1,050,
   one in 40 failed), are added through Airflow's ORM from this process: a fixture, no task runs.

``--profile`` also runs the overview's data gathering in this process under cProfile (same MLflow store, the
same REST API with a fresh token) and prints where its time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from mlops_provider.demo.stack import Stack

REPO = Path(__file__).resolve().parents[1]
FEATURES = [f"f{i}" for i in range(10)]
KINDS = ("training", "scoring", "drift")
DAY_MS = 86_400_000
TARGET_S = 1.0
MAX_AGE = timedelta(days=1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def model_names(n: int) -> list[str]:
    return [f"m{i:02d}" for i in range(n)]


# -- 1. the dags folder ----------------------------------------------------------------------------------------------


def write_dags_folder(folder: Path, models: list[str]) -> None:
    (folder / "configs").mkdir(parents=True)
    for loader in (REPO / "dags").glob("*.py"):
        shutil.copy(loader, folder / loader.name)
    shutil.copy(REPO / "dags" / "configs" / "defaults.yaml", folder / "configs" / "defaults.yaml")
    churn = (REPO / "dags" / "configs" / "churn.yaml").read_text()
    for i, model in enumerate(models):
        text = churn.replace("\nmodel: churn\n", f"\nmodel: {model}\n", 1)
        if i % 5 == 0:  # a budget on every fifth model: 10 of 50
            text += f"\ncost:\n  monthly_budget_usd: {20 + i}\n"
        (folder / "configs" / f"{model}.yaml").write_text(text)
    assert yaml.safe_load((folder / "configs" / f"{models[-1]}.yaml").read_text())["model"] == models[-1]


# -- 2. MLflow ---------------------------------------------------------------------------------------------------------


def drift_metrics(rng: random.Random) -> dict[str, float]:
    """One drift check's metrics, as the drift DAG logs them: mostly calm, now and then a drifted day."""
    drifting = rng.random() < 0.1
    out: dict[str, float] = {}
    drifted = 0
    for f in FEATURES:
        threshold = 0.1
        score = rng.uniform(0.12, 0.4) if drifting and rng.random() < 0.7 else rng.uniform(0.0, 0.09)
        out[f"drift_score.{f}"], out[f"drift_threshold.{f}"] = score, threshold
        out[f"drifted.{f}"] = float(score > threshold)
        drifted += score > threshold
    share = drifted / len(FEATURES)
    out.update(
        drift_share=share,
        dataset_drift=float(share >= 0.5),
        prediction_drift_score=rng.uniform(0.3, 1.5) if drifting else rng.uniform(0.0, 0.2),
        rows_current=float(rng.randint(800, 1200)),
    )
    return out


def fill_mlflow(uri: str, models: list[str], checks: int, now: datetime) -> None:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from mlops_provider.hooks.registry import ModelRegistry

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    rng = random.Random(7)
    now_ms = int(now.timestamp() * 1000)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    month_ms = int(month_start.timestamp() * 1000)
    clones: list[tuple[str, str, list[tuple[int, str, dict[str, float]]]]] = []  # (experiment, template, rows)
    for model in models:
        # training runs and the registry
        training = client.create_experiment(model)
        versions = []
        for v in range(1, 4):
            started = now_ms - (4 - v) * 10 * DAY_MS
            run = client.create_run(training, start_time=started, tags={"mlops.airflow_run_id": f"train_{v}"})
            auc = 0.80 + 0.01 * v + rng.uniform(0, 0.005)
            client.log_batch(run.info.run_id, metrics=[Metric("roc_auc", auc, started, 0)])
            client.set_terminated(run.info.run_id, end_time=started + 600_000)
            versions.append((run.info.run_id, auc, started))
        client.create_registered_model(model)
        for v, (run_id, auc, started) in enumerate(versions, start=1):
            at = datetime.fromtimestamp((started + 900_000) / 1000, tz=UTC).isoformat(timespec="seconds")
            gates = [
                {"gate": "metric.roc_auc", "passed": True, "severity": "fail", "threshold": 0.75, "value": auc},
                {"gate": "metric.recall", "passed": True, "severity": "warn", "threshold": 0.3, "value": 0.41},
            ]
            client.create_model_version(
                model,
                source=f"runs:/{run_id}/model",
                run_id=run_id,
                tags={
                    "mlops.airflow_run_id": f"train_{v}",
                    "mlops.metrics": json.dumps({"roc_auc": auc}),
                    "mlops.gates": json.dumps(gates),
                    "mlops.promotion": json.dumps([{"kind": "promotion", "to": str(v), "at": at, "seq": v}]),
                },
            )
        client.set_registered_model_alias(model, "champion", "3")
        client.set_registered_model_alias(model, "previous_champion", "2")

        # the newest drift check and cost report through the client; the rest are SQL copies of them
        monitoring = client.create_experiment(f"{model}-monitoring")
        rows = [(now_ms - d * DAY_MS, f"scheduled__{d}", drift_metrics(rng)) for d in range(checks)]
        clones.append((monitoring, _client_run(client, monitoring, rows[0]), rows[1:]))
        cost = client.create_experiment(f"{model}-cost")
        half = (now_ms - month_ms) // 30
        cost_times = [now_ms - i * half for i in range(30)] + [month_ms - (i + 1) * DAY_MS for i in range(30)]
        cost_rows = [
            (t, f"{model}_{KINDS[i % 3]}__{i}", {"cost_usd_total": round(rng.uniform(0.02, 0.6), 4)})
            for i, t in enumerate(cost_times)
        ]
        clones.append((cost, _client_run(client, cost, cost_rows[0], dag=f"{model}_training"), cost_rows[1:]))
        this_month = [r for r in cost_rows if r[0] >= month_ms]
        ModelRegistry(client).set_month_cost(  # what the cost report records after each run
            model,
            {
                "month": now.strftime("%Y-%m"),
                "estimated_usd": sum(r[2]["cost_usd_total"] for r in this_month),
                "actual_usd": None,
                "runs": len(this_month),
                "at": now.isoformat(timespec="seconds"),
            },
        )
    _copy_runs(uri.removeprefix("sqlite:///"), clones)

    # read one model's drift checks back through MLflow, as the dashboard does
    experiment = client.get_experiment_by_name(f"{models[0]}-monitoring")
    assert experiment is not None
    back = client.search_runs([experiment.experiment_id], max_results=checks, order_by=["attributes.start_time DESC"])
    whole = [r for r in back if len(r.data.metrics) == 4 + 3 * len(FEATURES) and "mlops.airflow_run_id" in r.data.tags]
    if len(back) != checks or len(whole) != checks:
        raise RuntimeError(f"{models[0]}: {len(back)} drift checks read back, {len(whole)} whole; {checks} written")


def _client_run(client: Any, experiment: str, row: tuple[int, str, dict[str, float]], dag: str | None = None) -> str:
    from mlflow.entities import Metric

    started, airflow_run, metrics = row
    tags = {"mlops.airflow_run_id": airflow_run, **({"mlops.dag_id": dag} if dag else {})}
    run = client.create_run(experiment, start_time=started, tags=tags)
    client.log_batch(run.info.run_id, metrics=[Metric(k, v, started, 0) for k, v in metrics.items()])
    client.set_terminated(run.info.run_id, end_time=started + 60_000)
    return str(run.info.run_id)


def _copy_runs(db: str, clones: list[tuple[str, str, list[tuple[int, str, dict[str, float]]]]]) -> None:
    """Copies of each template run with other start times, run ids and metric values: its ``runs`` row and tags
    as they are, the metrics (``metrics`` and ``latest_metrics``) with the given values."""
    con = sqlite3.connect(db)
    with con:
        for _experiment, template, rows in clones:
            (run_row,) = con.execute("SELECT * FROM runs WHERE run_uuid = ?", (template,)).fetchall()
            columns = [d[0] for d in con.execute("SELECT * FROM runs LIMIT 0").description]
            col = {name: i for i, name in enumerate(columns)}
            tags = dict(con.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (template,)).fetchall())
            new_runs, new_tags, new_metrics, new_latest = [], [], [], []
            for started, airflow_run, metrics in rows:
                run_id = uuid.uuid4().hex
                values = list(run_row)
                values[col["run_uuid"]] = run_id
                values[col["name"]] = airflow_run
                values[col["start_time"]], values[col["end_time"]] = started, started + 60_000
                values[col["artifact_uri"]] = str(run_row[col["artifact_uri"]]).replace(template, run_id)
                new_runs.append(values)
                own = {**tags, "mlops.airflow_run_id": airflow_run, "mlflow.runName": airflow_run}
                new_tags += [(k, v, run_id) for k, v in own.items()]
                new_metrics += [(k, v, started, run_id, 0, 0) for k, v in metrics.items()]
                new_latest += [(k, v, started, 0, 0, run_id) for k, v in metrics.items()]
            marks = ", ".join("?" * len(columns))
            con.executemany(f"INSERT INTO runs ({', '.join(columns)}) VALUES ({marks})", new_runs)
            con.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)", new_tags)
            con.executemany(
                "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)",
                new_metrics,
            )
            con.executemany(
                "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, ?, ?)",
                new_latest,
            )
    con.close()


# -- 3. Airflow --------------------------------------------------------------------------------------------------------


def fill_airflow(stack: Stack, models: list[str], now: datetime) -> int:
    """Serialize the DAGs, then add a week of runs of each model's training, scoring and drift DAG."""
    stack.airflow("dags", "reserialize", timeout=900)
    from airflow.models.dagrun import DagRun
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    wanted = {f"{m}_{k}" for m in models for k in KINDS}
    with create_session() as session:
        known = {d for (d,) in session.query(SerializedDagModel.dag_id) if d in wanted}
        if known != wanted:
            missing = sorted(wanted - known)
            raise RuntimeError(f"reserialize left {len(missing)} model DAGs out, e.g. {missing[:3]}")
        day0 = now.replace(hour=0, minute=0, second=0, microsecond=0)
        hours = {"training": 2, "scoring": 6, "drift": 7}
        n = 0
        for model in models:
            for kind in KINDS:
                for d in range(7):
                    at = day0 - timedelta(days=d) + timedelta(hours=hours[kind])
                    if at > now:
                        at -= timedelta(days=7)
                    failed = (n % 40) == 39
                    run = DagRun(
                        dag_id=f"{model}_{kind}",
                        run_id=f"scheduled__{at.isoformat()}",
                        logical_date=at,
                        run_after=at,
                        data_interval=(at - timedelta(days=1), at),
                        queued_at=at,
                        start_date=at + timedelta(seconds=5),
                        state=DagRunState.FAILED if failed else DagRunState.SUCCESS,
                        run_type=DagRunType.SCHEDULED,
                        triggered_by=DagRunTriggeredByType.TIMETABLE,
                    )
                    run.end_date = at + timedelta(minutes=4 if kind == "training" else 1)
                    session.add(run)
                    n += 1
    return n


# -- setup -------------------------------------------------------------------------------------------------------------


def build(stack: Stack, models: list[str], checks: int) -> dict[str, Any]:
    started = time.perf_counter()
    now = datetime.now(UTC)
    write_dags_folder(stack.dags_folder, models)
    import subprocess

    validate = subprocess.run(
        [str(Path(sys.executable).parent / "mlops"), "validate", str(stack.dags_folder / "configs")],
        env=stack.env(),
        capture_output=True,
        text=True,
    )
    if validate.returncode != 0:
        raise RuntimeError(f"mlops validate failed:\n{validate.stdout}{validate.stderr}")
    stack.init()
    t = time.perf_counter()
    fill_mlflow(stack.mlflow_uri, models, checks, now)
    mlflow_s = time.perf_counter() - t
    t = time.perf_counter()
    runs = fill_airflow(stack, models, now)
    airflow_s = time.perf_counter() - t
    built = {
        "layout": LAYOUT,
        "built_at": now.isoformat(),
        "models": len(models),
        "checks": checks,
        "dag_runs": runs,
        "build_s": round(time.perf_counter() - started, 1),
        "mlflow_fill_s": round(mlflow_s, 1),
        "airflow_fill_s": round(airflow_s, 1),
    }
    (stack.home / "built.json").write_text(json.dumps(built))
    return built


#: What the stored state holds; bumped when the fill changes (2: the registry's month-cost record).
LAYOUT = 2


def reusable(home: Path, models: int, checks: int) -> dict[str, Any] | None:
    marker = home / "built.json"
    if not marker.exists():
        return None
    built = json.loads(marker.read_text())
    fresh = datetime.now(UTC) - datetime.fromisoformat(built["built_at"]) < MAX_AGE
    same = (built.get("layout"), built["models"], built["checks"]) == (LAYOUT, models, checks)
    return built if fresh and same else None


# -- measuring ---------------------------------------------------------------------------------------------------------


def get(stack: Stack, path: str, token: str) -> tuple[float, bytes]:
    request = urllib.request.Request(stack.api_url + path, headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        body = response.read()
    return time.perf_counter() - started, body


def check_overview(stack: Stack, models: list[str]) -> None:
    """The overview must have read every source: a source that failed would make the page fast and wrong."""
    _, body = get(stack, "/mlops/api/overview", stack.token())
    data = json.loads(body)
    rows = data["models"]
    problems = [f"unavailable: {data['unavailable']}"] if data["unavailable"] else []
    problems += [f"config errors: {data['config_errors']}"] if data["config_errors"] else []
    problems += [f"{len(rows)} models, not {len(models)}"] if len(rows) != len(models) else []
    problems += [f"{r['model']}: {r['unavailable']}" for r in rows if r["unavailable"]]
    problems += [f"{r['model']}: no champion" for r in rows if not r["champion"]]
    problems += [f"{r['model']}: no drift check" for r in rows if not r["drift"]]
    from_airflow = [r for r in rows if str((r["last_training"] or {}).get("run_id")).startswith("scheduled__")]
    problems += [f"{len(rows) - len(from_airflow)} models without a training run from Airflow"] * (
        len(from_airflow) != len(rows)
    )
    if problems:
        raise RuntimeError("the overview is incomplete: " + "; ".join(problems[:5]))


def measure(stack: Stack, models: list[str], repeats: int) -> dict[str, float]:
    t, _ = get(stack, "/mlops/", stack.token())  # builds the app, imports MLflow: once per server
    figures = {"first_request_s": t}
    check_overview(stack, models)
    samples: dict[str, list[float]] = {"overview_cold_s": [], "overview_warm_s": [], "overview_json_cold_s": []}
    samples["model_page_cold_s"] = []
    page = f"/mlops/models/{models[0]}"
    for _ in range(repeats):
        token = stack.token()  # a token of its own: nothing cached for it
        t, body = get(stack, "/mlops/", token)
        assert models[-1].encode() in body, "the overview page does not name every model"
        samples["overview_cold_s"].append(t)
        samples["overview_warm_s"].append(get(stack, "/mlops/", token)[0])
        samples["overview_json_cold_s"].append(get(stack, "/mlops/api/overview", stack.token())[0])
        t, body = get(stack, page, stack.token())
        assert models[0].encode() in body
        samples["model_page_cold_s"].append(t)
    for name, values in samples.items():
        figures[name] = statistics.median(values)
        print(f"# {name}: " + " ".join(f"{v:.3f}" for v in values))
    return figures


def profile(stack: Stack) -> None:
    """The overview's data gathered and rendered in this process (same MLflow store, the server's REST API with a
    fresh token), twice: once with each source's calls timed by the wall clock (threads included), once under
    cProfile (which sees this thread only, not the pool's drift searches)."""
    import cProfile
    import io
    import pstats
    from contextlib import ExitStack
    from unittest import mock

    from mlops_provider.cost import history
    from mlops_provider.dashboard import facts, health, render
    from mlops_provider.dashboard.airflow_api import AirflowApi
    from mlops_provider.dashboard.service import _client, overview_data
    from mlops_provider.hooks.registry import ModelRegistry

    client, tracking_uri = _client()
    overview_data(AirflowApi(stack.api_url, stack.token()), client=client, tracking_uri=tracking_uri)  # imports
    spans: dict[str, list[tuple[float, float]]] = {}

    def timed(name: str, fn: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spans.setdefault(name, []).append((started, time.perf_counter()))

        return call

    targets = [
        (facts, "load_configs", "configs (load_folder)"),
        (ModelRegistry, "overview_many", "registry (2 searches)"),
        (facts, "experiment_ids", "experiments (search_experiments)"),
        (history, "cost_runs_of", "cost (1 search_runs, models without a month record only)"),
        (facts, "latest_drift_checks", "drift (1 search_runs over recent checks, then per model left)"),
        (AirflowApi, "runs", "airflow runs (REST)"),
        (AirflowApi, "pending_approvals", "airflow approvals (REST)"),
        (facts, "read_last_training", "last training from MLflow"),
        (health, "overview", "health"),
    ]
    with ExitStack() as patches:
        for owner, attr, name in targets:
            patches.enter_context(mock.patch.object(owner, attr, timed(name, getattr(owner, attr))))
        started = time.perf_counter()
        data = overview_data(AirflowApi(stack.api_url, stack.token()), client=client, tracking_uri=tracking_uri)
        t = time.perf_counter()
        render.overview_html(data, "/mlops")
        spans["render (overview_html)"] = [(t, time.perf_counter())]
    total = time.perf_counter() - started
    print(f"# profile: overview gathered and rendered in this process in {total:.3f} s; per source (wall):")
    for name, calls in spans.items():
        wall = max(e for _, e in calls) - min(s for s, _ in calls)
        summed = sum(e - s for s, e in calls)
        print(f"#   {name:42s} {wall:6.3f} s  ({len(calls)} calls, {summed:.3f} s summed)")

    prof = cProfile.Profile()
    prof.enable()
    render.overview_html(
        overview_data(AirflowApi(stack.api_url, stack.token()), client=client, tracking_uri=tracking_uri), "/mlops"
    )
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
    print("# cProfile, this thread only, by own time:")
    print("\n".join("#   " + line for line in out.getvalue().splitlines() if line.strip()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--checks", type=int, default=1000, help="drift checks per model")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--home", type=Path, default=REPO / ".mlops-bench")
    parser.add_argument("--rebuild", action="store_true", help="build the state again even when it could be reused")
    parser.add_argument("--profile", action="store_true", help="also profile the overview's data gathering")
    args = parser.parse_args()

    home = args.home.resolve()
    models = model_names(args.models)
    stack = Stack(home, home / "dags", port=free_port())
    os.environ.update(stack.settings())  # Airflow's ORM and the profile in this process use the same state
    started = time.perf_counter()
    built = None if args.rebuild else reusable(home, args.models, args.checks)
    if built is None:
        if home.exists():
            shutil.rmtree(home)
        print(f"# building {home}: {args.models} models x {args.checks} drift checks", flush=True)
        built = build(stack, models, args.checks)
    else:
        print(f"# reusing {home}, built {built['built_at']} in {built['build_s']} s (--rebuild builds it again)")
    print("# " + json.dumps(built))
    try:
        t = time.perf_counter()
        stack.start(("api-server",))
        stack.wait_ready(component="metadatabase")
        server_s = time.perf_counter() - t
        setup_s = time.perf_counter() - started
        figures = measure(stack, models, args.repeats)
        if args.profile:
            profile(stack)
    finally:
        stack.stop()
    print(f"setup_build_s={built['build_s']:.1f}")
    print(f"setup_s={setup_s:.1f}")
    print(f"server_start_s={server_s:.1f}")
    for name in ("first_request_s", "overview_warm_s", "overview_json_cold_s", "model_page_cold_s"):
        print(f"{name}={figures[name]:.3f}")
    cold = figures["overview_cold_s"]
    verdict = "under" if cold < TARGET_S else "OVER"
    print(f"target: cold overview under {TARGET_S:.0f} s with {args.models} models x {args.checks} checks: {verdict}")
    print(f"dashboard_overview_s={cold:.3f}")


if __name__ == "__main__":
    main()
