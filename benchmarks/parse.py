"""DAG parse cost: N YAML configs through the loader vs an equivalent plain-Python DAG file.

    python benchmarks/parse.py [--configs 50] [--repeats 5]

Each side is parsed with ``DagBag`` in a fresh interpreter ``--repeats`` times; the figure is the time
``DagBag`` takes to fill (Airflow itself is imported before the clock starts, on both sides). Ours is parsed
as a deployed dag-processor parses it after its first loop: with the parse cache the first parse filled
(``[mlops] parse_cache_dir``), and once more with the cache off (``parse_ratio_uncached``). Prints the
medians and, last, ``parse_ratio=<ours/plain> dags=<n> tasks=<n>``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IMPORT_TIMEOUT = 30.0  # seconds, Airflow's [core] dagbag_import_timeout

PROBE = r"""
import json, re, sys, time
from airflow.dag_processing.dagbag import DagBag
t = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
elapsed = time.perf_counter() - t
HEAVY = ("mlflow", "evidently", "great_expectations", "sklearn", "pandas", "scipy")
heavy = [m for m in HEAVY if m in sys.modules]
tasks = sum(len(d.tasks) for d in bag.dags.values())
# what both sides must agree on, per DAG: its schedule, its task count, every task's outlets and inlets
shape = {
    d.dag_id: [
        re.sub(r" at 0x[0-9a-f]+", "", repr(d.timetable)),  # the timetable's fields, or its class
        len(d.tasks),
        sorted([t.task_id, sorted(a.uri for a in t.outlets), sorted(a.uri for a in t.inlets)] for t in d.tasks),
    ]
    for d in bag.dags.values()
}
print(json.dumps({"seconds": elapsed, "dags": len(bag.dags), "tasks": tasks,
                  "errors": len(bag.import_errors), "heavy": heavy, "shape": shape}))
"""

PLAIN_HEADER = '''"""Plain Python: the same DAGs and tasks as the configs, written by hand."""
from datetime import datetime, timedelta, timezone

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Asset, AssetOrTimeSchedule, CronTriggerTimetable

'''

PLAIN_DAG = """
with DAG(
    dag_id="{model}_{kind}",
    schedule={schedule},
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={{"owner": "ml-platform", "retries": 1}},
    tags=["mlops", "{model}"],
) as dag_{i}:
    tasks = [{tasks}]
    for up, down in zip(tasks, tasks[1:]):
        up >> down
"""


def write_ours(folder: Path, n: int) -> None:
    (folder / "configs").mkdir(parents=True)
    for loader in ("mlops_pipelines.py", "mlops_config_errors.py"):
        (folder / loader).write_text((REPO / "dags" / loader).read_text())
    (folder / "configs" / "defaults.yaml").write_text((REPO / "dags" / "configs" / "defaults.yaml").read_text())
    base = yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text())
    for i in range(n):
        base["model"] = f"model_{i:03d}"
        (folder / "configs" / f"model_{i:03d}.yaml").write_text(yaml.safe_dump(base))


#: The schedule of each kind of DAG, as the factories build them for the shipped churn config.
SCHEDULES = {
    "training": 'AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 2 * * *", timezone="UTC", '
    'run_immediately=timedelta(0)), assets=[Asset(name="{model}_drift", uri="mlops://{model}/drift")])',
    "scoring": 'CronTriggerTimetable("0 6 * * *", timezone="UTC", run_immediately=timedelta(0))',
    "drift": 'CronTriggerTimetable("0 7 * * *", timezone="UTC", run_immediately=timedelta(0))',
    "rollback": "None",  # manual only
    "retention": '"0 4 * * 0"',  # a cron string, as the retention factory passes it (default timezone)
}


def plain_task(task_id: str, outlets: list[list[str]], model: str) -> str:
    """One ``EmptyOperator`` with the task's own outlets (ours' names and URIs, for ``model``)."""
    if not outlets:
        return f"EmptyOperator(task_id={task_id!r})"
    assets = ", ".join(
        f"Asset(name={name.replace('model_000', model)!r}, uri={uri.replace('model_000', model)!r})"
        for name, uri in outlets
    )
    return f"EmptyOperator(task_id={task_id!r}, outlets=[{assets}])"


def write_plain(folder: Path, n: int, dags: dict[str, list[list[Any]]], *, every_dag_as_training: bool = False) -> None:
    """One plain DAG per (model, kind) of ours, with the same task ids, outlets and schedule, chained.

    ``dags``: per kind, ``model_000``'s tasks in order as ``[task_id, [[outlet name, uri], ...]]``.
    ``every_dag_as_training``: the earlier baseline, which gave every DAG the training DAG's Asset-or-cron
    schedule (slower to parse than the scoring, drift and rollback DAGs' own); printed beside the figure.
    """
    folder.mkdir(parents=True)
    body = PLAIN_HEADER + "".join(
        PLAIN_DAG.format(
            model=model,
            kind=kind,
            i=f"{i}_{kind}",
            tasks=", ".join(plain_task(task_id, outlets, model) for task_id, outlets in tasks),
            schedule=SCHEDULES["training" if every_dag_as_training else kind].format(model=model),
        )
        for i in range(n)
        for model in [f"model_{i:03d}"]
        for kind, tasks in dags.items()
    )
    (folder / "plain_dags.py").write_text(body)


def same_dags(ours: dict[str, Any], plain: dict[str, Any]) -> None:
    """Stop unless both sides built the same DAG ids, each with the same schedule, tasks, outlets and inlets."""
    if ours["shape"] == plain["shape"]:
        return
    only = sorted(set(ours["shape"]) ^ set(plain["shape"]))[:5]
    differ = [
        (d, ours["shape"][d], plain["shape"][d]) for d in ours["shape"] if ours["shape"][d] != plain["shape"].get(d)
    ]
    raise SystemExit(f"the two sides differ: DAG ids on one side only {only}; first differing DAGs {differ[:3]}")


def parse(folder: Path, env: dict[str, str]) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(folder)], env=env, capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlops-parse-") as tmp:
        root = Path(tmp)
        # no import timeout: Airflow's default (30 s per file) would cut a large folder short and leave no DAGs
        # to measure; a file slower than that is reported below instead
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(root / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "0",
        }
        write_ours(root / "ours", args.configs)
        first = parse(root / "ours", env)
        if first["errors"] or not first["dags"]:
            raise SystemExit(f"the configs did not parse: {first['errors']} import errors, {first['dags']} DAGs")
        probe_tasks = json.loads(
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import json,sys\nfrom airflow.dag_processing.dagbag import DagBag\n"
                    "b=DagBag(dag_folder=sys.argv[1])\n"
                    "print(json.dumps({d.dag_id.split('_', 2)[2]: [[t.task_id, [[a.name, a.uri] for a in t.outlets]]\n"
                    "                  for t in d.topological_sort()]\n"
                    "                  for d in b.dags.values() if d.dag_id.startswith('model_000_')}))",
                    str(root / "ours"),
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        write_plain(root / "plain", args.configs, probe_tasks)
        write_plain(root / "plain_old", args.configs, probe_tasks, every_dag_as_training=True)
        # the loader keeps good configs' reads between parses ([mlops] parse_cache_dir, here under AIRFLOW_HOME):
        # the first parse above filled it, as a dag-processor's first loop does; ``uncached`` turns it off, as
        # after every config changed, or in a deployment that sets the option to off
        uncached_env = {**env, "AIRFLOW__MLOPS__PARSE_CACHE_DIR": "off"}
        ours, plain, plain_old, uncached = [], [], [], []
        for _ in range(args.repeats):
            o, p, q = parse(root / "ours", env), parse(root / "plain", env), parse(root / "plain_old", env)
            u = parse(root / "ours", uncached_env)
            same_dags(o, p)
            same_dags(u, p)
            # the earlier baseline: the same DAG ids and tasks, only the schedules differ
            tasks_only = [{d: s[1:] for d, s in side["shape"].items()} for side in (o, q)]
            assert tasks_only[0] == tasks_only[1], "the earlier baseline's DAGs differ from ours"
            ours.append(float(o["seconds"]))
            plain.append(float(p["seconds"]))
            plain_old.append(float(q["seconds"]))
            uncached.append(float(u["seconds"]))
        mo, mp, mq = statistics.median(ours), statistics.median(plain), statistics.median(plain_old)
        mu = statistics.median(uncached)
        shape = ", ".join(f"{kind}: {len(tasks)} tasks" for kind, tasks in probe_tasks.items())
        print(f"configs={args.configs} repeats={args.repeats} DAGs per config: {shape}")
        print(f"yaml configs via loader : median {mo:.3f} s  (runs: {', '.join(f'{x:.3f}' for x in ours)})")
        print(f"plain python DAG file   : median {mp:.3f} s  (runs: {', '.join(f'{x:.3f}' for x in plain)})")
        print(
            f"configs, parse cache off: median {mu:.3f} s  (runs: {', '.join(f'{x:.3f}' for x in uncached)}), "
            f"parse_ratio_uncached={mu / mp:.2f}"
        )
        print(
            f"heavy modules imported while parsing configs: {first['heavy'] or 'none'}; "
            f"import errors: {first['errors']}"
        )
        print(
            f"earlier baseline (every plain DAG on the training schedule): median {mq:.3f} s, "
            f"parse_ratio_earlier_baseline={mo / mq:.2f}"
        )
        if max(ours + uncached) > DEFAULT_IMPORT_TIMEOUT:
            print(
                f"note: a parse of the configs took over {DEFAULT_IMPORT_TIMEOUT:.0f} s, Airflow's default [core] "
                "dagbag_import_timeout, most of it in the loader file: these configs need a higher one"
            )
        print(f"parse_ratio={mo / mp:.2f} dags={first['dags']} tasks={first['tasks']}")


if __name__ == "__main__":
    main()
