"""End to end on a real Airflow: scheduler, dag-processor, triggerer and API server as separate processes.

The DAG is triggered with the ``airflow`` CLI, completion is polled through the REST API, and the
outcome is read from the MLflow registry. A broken config dropped next to the good one shows up as an
import error naming its field while the good model's DAG stays available.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import new_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    from mlops_provider.demo.data import write_labeled

    st = new_stack(tmp_path_factory.mktemp("e2e"), shipped_configs=True)
    write_labeled(st.home / "data", rows=20_000, start="2026-06-01", days=90, seed=3)
    st.init()
    st.start()
    try:
        st.wait_ready()
        yield st
    finally:
        stopped = st.stop()
        assert set(stopped) == {"scheduler", "dag-processor", "triggerer", "api-server"}
        assert st.running() == {}


def test_cli_trigger_runs_training_to_a_champion(stack):
    from mlflow.tracking import MlflowClient

    stack.wait_for_dag("churn_training")
    run_id = stack.trigger("churn_training")
    run = stack.wait_for_run("churn_training", run_id, timeout=600)
    states = {ti["task_id"]: ti["state"] for ti in stack.task_instances("churn_training", run_id)}
    assert run["state"] == "success", states
    assert states == dict.fromkeys(
        ["validate_data", "train", "evaluate_gates", "register", "promote", "cost_report"], "success"
    )

    client = MlflowClient(tracking_uri=stack.mlflow_uri, registry_uri=stack.mlflow_uri)
    champion = client.get_model_version_by_alias("churn", "champion")
    assert champion.tags["mlops.airflow_run_id"] == run_id
    assert champion.tags["mlops.airflow_dag_id"] == "churn_training"
    assert json.loads(champion.tags["mlops.trigger"])["run_type"] == "manual"
    reg = stack.xcom("churn_training", run_id, "register")
    assert str(reg["version"]) == str(champion.version)


def test_broken_config_is_an_import_error_and_good_dags_stay(stack):
    configs = stack.dags_folder / "configs"
    bad = yaml.safe_load((configs / "churn.yaml").read_text())
    bad["model"] = "churn_broken"
    bad["gates"]["metrics"][0]["min"] = "high"
    (configs / "churn_broken.yaml").write_text(yaml.safe_dump(bad))

    deadline = time.monotonic() + 180
    errors: list[dict] = []
    while time.monotonic() < deadline:
        out = stack.airflow("dags", "list-import-errors", "--output", "json", check=False).stdout
        line = next((ln for ln in reversed(out.splitlines()) if ln.startswith("[")), "[]")
        errors = json.loads(line)
        if errors:
            break
        time.sleep(3)
    assert len(errors) == 1, errors
    (err,) = errors
    assert Path(err["filepath"]).name == "mlops_config_errors.py"
    assert "churn_broken.yaml" in err["error"]
    assert "gates.metrics[0].min" in err["error"] and "'high'" in err["error"]

    listing = stack.airflow("dags", "list", "--output", "json").stdout
    dag_ids = {d["dag_id"] for d in json.loads(next(ln for ln in reversed(listing.splitlines()) if ln.startswith("[")))}
    assert "churn_training" in dag_ids
    assert "churn_broken_training" not in dag_ids


def _readme_block(heading: str) -> list[str]:
    """The commands of the first ```bash block under ``heading`` in the README, comments stripped."""
    from tests.conftest import REPO

    text = (REPO / "README.md").read_text()
    section = text.split(f"## {heading}\n", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_readme_add_a_model_runs_as_written(stack, tmp_path):
    """The README's "Add a model" commands, typed in a shell at the repository root of a demo stack."""
    import subprocess

    from mlflow.tracking import MlflowClient

    (stack.dags_folder / "configs" / "churn_broken.yaml").unlink(missing_ok=True)  # left by the test above
    commands = _readme_block("Add a model")
    assert commands[0] == "source .mlops/env.sh" and commands[-1].startswith("mlops lineage mymodel 1")
    root = tmp_path / "checkout"  # a repository root whose .mlops/ and dags/ are this stack's
    root.mkdir()
    (root / ".mlops").symlink_to(stack.home)
    (root / "dags").symlink_to(stack.dags_folder)
    clean_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)}  # no .venv, no AIRFLOW_HOME

    def sh(lines: list[str]) -> subprocess.CompletedProcess[str]:
        script = "set -e\n" + "\n".join(lines) + "\n"
        return subprocess.run(
            ["bash", "-c", script], cwd=root, env=clean_env, capture_output=True, text=True, timeout=600
        )

    done = sh(commands[:-1])
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert not (tmp_path / "airflow").exists()  # nothing fell back to ~/airflow
    assert "graphviz" not in done.stdout + done.stderr  # no warning on every `airflow dags` call
    runs = stack.runs("mymodel_training")
    assert len(runs) == 1 and runs[0]["run_type"] == "manual"
    run = stack.wait_for_run("mymodel_training", runs[0]["dag_run_id"], timeout=600)
    assert run["state"] == "success"
    client = MlflowClient(tracking_uri=stack.mlflow_uri, registry_uri=stack.mlflow_uri)
    assert str(client.get_model_version_by_alias("mymodel", "champion").version) == "1"
    lineage = sh(commands[:1] + commands[-1:])
    assert lineage.returncode == 0, lineage.stderr[-3000:]
    assert "mymodel" in lineage.stdout and "sha256" in lineage.stdout


def test_past_days_are_scored_and_scored_again_with_a_backfill(stack):
    """The documented way to run a given day, and to run it again (docs/getting-started.md)."""
    from mlflow.tracking import MlflowClient

    from mlops_provider.demo.data import write_current

    client = MlflowClient(tracking_uri=stack.mlflow_uri, registry_uri=stack.mlflow_uri)
    if not client.search_model_versions("name = 'churn'"):  # this test alone: train the champion first
        stack.wait_for_run("churn_training", stack.trigger("churn_training"), timeout=600)
    stack.wait_for_dag("churn_scoring")
    write_current(stack.home / "data", start="2026-09-29", days=2, rows_per_day=500)

    def score_days() -> list[tuple[str, str, int]]:
        runs = stack.backfill("churn_scoring", "2026-09-29T00:00:00+00:00", "2026-09-30T23:59:59+00:00")
        out = []
        for run in runs:
            (ti,) = [t for t in stack.task_instances("churn_scoring", run["dag_run_id"]) if t["task_id"] == "score"]
            out.append((str(run["logical_date"])[:10], run["state"], int(ti["try_number"])))
        return out

    first = score_days()
    assert [(day, state) for day, state, _ in first] == [("2026-09-29", "success"), ("2026-09-30", "success")]
    again = score_days()  # --reprocess-behavior completed: the same days run again, not a UNIQUE error
    assert [(day, state) for day, state, _ in again] == [("2026-09-29", "success"), ("2026-09-30", "success")]
    assert all(b[2] > a[2] for a, b in zip(first, again, strict=True)), (first, again)
    for day in ("2026-09-29", "2026-09-30"):
        assert (stack.home / "data" / "predictions" / "churn" / f"scoring_date={day}" / "predictions.parquet").exists()


def test_the_rollback_dag_restores_the_previous_champion_and_records_who_asked(stack):
    """`airflow dags trigger churn_rollback -c '{"reason": ...}'`, as the runbook says, on a real scheduler."""
    from mlflow.tracking import MlflowClient

    from mlops_provider.hooks.registry import ModelRegistry

    client = MlflowClient(tracking_uri=stack.mlflow_uri, registry_uri=stack.mlflow_uri)
    registry = ModelRegistry(client)
    while len(client.search_model_versions("name = 'churn'")) < 2:  # a champion and a previous one
        run = stack.wait_for_run("churn_training", stack.trigger("churn_training"), timeout=600)
        assert run["state"] == "success"
    before, previous = registry.champion("churn"), registry.alias("churn", "previous_champion")
    assert before and previous and before != previous

    stack.wait_for_dag("churn_rollback")
    run_id = stack.trigger("churn_rollback", conf={"reason": "scores drifted after the release"})
    run = stack.wait_for_run("churn_rollback", run_id, timeout=300)
    assert run["state"] == "success"
    assert registry.champion("churn") == previous and registry.alias("churn", "previous_champion") == before
    last = registry.history("churn")[-1]
    assert last["kind"] == "rollback" and last["reason"] == "scores drifted after the release"
    assert last["run_id"] == run_id and last["by"] not in ("", "unknown", None), last


def test_alerts_reach_slack_from_a_task_callback_and_from_the_dag_processor(stack):
    """A failed scoring run alerts from its task's failure callback (task process); the next successful run
    sends `recovered` from the DAG's success callback, which Airflow 3 runs in the dag-processor. Both go
    through the real Slack webhook hook to a receiver on loopback; the webhook token is in no log."""
    from mlflow.tracking import MlflowClient

    from mlops_provider.demo.data import write_current
    from tests.fixtures.slack import TOKEN, TOKEN_PARTS, Receiver

    client = MlflowClient(tracking_uri=stack.mlflow_uri, registry_uri=stack.mlflow_uri)
    if not client.search_model_versions("name = 'churn'"):  # this test alone: train the champion first
        stack.wait_for_run("churn_training", stack.trigger("churn_training"), timeout=600)
    stack.wait_for_dag("churn_scoring")
    with Receiver() as receiver:
        host = f"http://127.0.0.1:{receiver.port}/services"
        stack.airflow(
            "connections", "add", "slack_mlops", "--conn-type", "slackwebhook", "--conn-host", host,
            "--conn-password", TOKEN,
        )  # fmt: skip
        try:
            import pandas as pd

            (bad,) = write_current(stack.home / "data", start="2026-10-20", days=1, rows_per_day=300)
            pd.read_parquet(bad).drop(columns=["plan"]).to_parquet(bad)  # a batch without a feature: not retried
            failed = stack.trigger("churn_scoring", logical_date="2026-10-20T06:00:00+00:00")
            assert stack.wait_for_run("churn_scoring", failed, timeout=300)["state"] == "failed"
            write_current(stack.home / "data", start="2026-10-21", days=1, rows_per_day=300)
            ok = stack.trigger("churn_scoring", logical_date="2026-10-21T06:00:00+00:00")
            assert stack.wait_for_run("churn_scoring", ok, timeout=300)["state"] == "success"

            def headlines() -> list[str]:
                return [p["blocks"][0]["text"]["text"] for _, p in receiver.posts if "blocks" in p]

            deadline = time.monotonic() + 180  # the dag-processor runs DAG callbacks on its next loop
            while not any("recovered" in h for h in headlines()) and time.monotonic() < deadline:
                time.sleep(2)
        finally:
            stack.airflow("connections", "delete", "slack_mlops", check=False)

    # (unpausing the DAG also let the scheduler start today's run, which fails for want of data: its alert
    # arrives too, and the recovery counts it when it failed first)
    failure = [h for h in headlines() if f"task `score` of `churn_scoring` failed in run `{failed}`" in h]
    assert len(failure) == 1, headlines()
    assert failure[0].startswith(":red_circle:") and "not retried" in failure[0]
    (recovered,) = [h for h in headlines() if "recovered" in h]
    assert re.search(rf"run `{re.escape(ok)}` succeeded after \d+ failure\(s\) since ", recovered), recovered
    (post,) = [p for _, p in receiver.posts if "recovered" in p.get("text", "")]
    assert post["blocks"][-1]["elements"][0]["url"].startswith(f"{stack.api_url}/dags/churn_scoring/runs/")
    assert all(path == f"/services/{TOKEN}" for path, _ in receiver.posts)
    logs = [p for p in stack.home.rglob("*.log") if p.is_file()]  # the processes' and every task's
    assert logs
    leaked = [str(p) for p in logs if any(part in p.read_text(errors="replace") for part in TOKEN_PARTS)]
    assert not leaked
