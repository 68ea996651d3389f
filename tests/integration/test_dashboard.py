"""The dashboard as users meet it: a real API server serving the plugin, an MLflow store filled by real pipeline
runs (training, scoring, drift checks with dag.test()), JSON checked against the registry, every route closed to
anonymous callers, the pages in headless Chromium, and ``mlops status`` computing the same summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import STATE
from tests.fixtures.browser import ApiServer, logged_in_page, needs_chromium, screenshot
from tests.integration.conftest import model_config, run_config_dag, xcom

pytestmark = pytest.mark.integration

MODEL = "churn_dash"


def get(url: str, token: str | None = None, *, follow: bool = True) -> tuple[int, dict[str, str], bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(*([] if follow else [NoRedirect()]))
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=60) as resp:
            return int(resp.status), dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture(scope="module")
def pipelines(example_data: Path) -> dict[str, Any]:
    """One model through its real pipelines: trained (v1 champion), scored and checked on a clean day (no drift),
    then scored and checked on a drifted day (drift found; no scheduler here, so no retrain starts)."""
    from mlops_provider.demo.data import write_current

    write_current(
        STATE / "data" / "dash", start="2026-08-10", days=4, rows_per_day=1_500, seed=5, drift_from="2026-08-13"
    )
    cfg = model_config(MODEL, **{"scoring.source": "dash/churn/current/{{ ds }}.parquet", "drift.cooldown_hours": 0})
    assert run_config_dag(cfg, "training").state == "success"
    checks = []
    for day in ("2026-08-10", "2026-08-13"):
        when = datetime.fromisoformat(day).replace(hour=7, tzinfo=UTC)
        assert run_config_dag(cfg, "scoring", logical_date=when).state == "success"
        run = run_config_dag(cfg, "drift", logical_date=when)
        assert run.state == "success"
        checks.append(xcom(run, "check_drift"))
    assert [c["dataset_drift"] for c in checks] == [False, True]
    return {"config": cfg, "checks": checks}


def overview_row(api_server: ApiServer) -> dict[str, Any]:
    status, _, body = get(f"{api_server.api_url}/mlops/api/overview", api_server.token())
    assert status == 200, body[:500]
    data = json.loads(body)
    (row,) = [m for m in data["models"] if m["model"] == MODEL]
    return row


def test_the_overview_json_matches_the_registry_and_the_drift_runs(api_server, pipelines, mlflow_client):
    row = overview_row(api_server)
    champion = mlflow_client.get_model_version_by_alias(MODEL, "champion")
    metrics = json.loads(champion.tags["mlops.metrics"])
    assert row["champion"]["version"] == str(champion.version) == "1"
    assert row["champion"]["metric"] == "roc_auc" and row["champion"]["value"] == pytest.approx(metrics["roc_auc"])
    latest = pipelines["checks"][-1]
    monitoring = mlflow_client.get_run(latest["mlflow_run_id"]).data.metrics
    assert row["drift"]["share"] == pytest.approx(monitoring["drift_share"]) == pytest.approx(latest["drift_share"])
    assert row["drift"]["detected"] is True
    # drift found after v1 became champion, and nothing under way: a person should look
    assert row["health"] == "drifting" and row["attention"] is True
    assert any(r.startswith(f"drift in {latest['drift_share']:.0%} of features") for r in row["reasons"])
    training = row["last_training"]
    assert training["state"] == "success" and training["dag_id"] == f"{MODEL}_training"
    assert training["duration_s"] > 0 and training["url"].startswith(
        f"{api_server.api_url}/dags/{MODEL}_training/runs/"
    )
    cost = mlflow_client.search_runs(
        [mlflow_client.get_experiment_by_name(f"{MODEL}-cost").experiment_id], max_results=100
    )
    assert row["cost"]["month_to_date_usd"] == pytest.approx(
        sum(r.data.metrics["cost_usd_total"] for r in cost),
        abs=1e-6,  # shown to the millionth of a dollar
    )
    # the overview read the month from the record the cost report keeps on the registered model
    record = json.loads(mlflow_client.get_registered_model(MODEL).tags["mlops.cost_month"])
    assert record["runs"] == len(cost) and record["month"] == datetime.now(UTC).strftime("%Y-%m")
    assert row["unavailable"] == {}


def test_the_model_page_json_has_history_features_versions_and_runs(api_server, pipelines, mlflow_client, tmp_path):
    status, _, body = get(f"{api_server.api_url}/mlops/api/models/{MODEL}", api_server.token())
    assert status == 200, body[:500]
    page = json.loads(body)
    clean, drifted = pipelines["checks"]
    assert [c["drift_share"] for c in page["drift_history"]] == pytest.approx(
        [clean["drift_share"], drifted["drift_share"]]
    )
    assert [c["dataset_drift"] for c in page["drift_history"]] == [False, True]
    features = {f["feature"]: f for f in page["drift_features"]["features"]}
    assert set(features) == set(pipelines["config"]["data"]["features"]["numeric"]) | set(
        pipelines["config"]["data"]["features"]["categorical"]
    )
    assert {f for f, v in features.items() if v["drifted"]} == set(drifted["drifted_columns"])
    assert [(v["alias"], v["version"]) for v in page["versions"]] == [("champion", "1")]
    gates = {g["gate"]: g for g in page["candidate"]["gates"]}
    recorded = {g["gate"]: g for g in json.loads(mlflow_client.get_model_version(MODEL, "1").tags["mlops.gates"])}
    assert gates.keys() == recorded.keys() and all(g["passed"] for g in gates.values())
    (run,) = page["training_runs"]
    assert run["state"] == "success" and run["cost_usd"] > 0
    promotions = page["deployments"]["history"]
    assert [(p["kind"], p["to"]) for p in promotions] == [("promotion", "1")]
    assert sum(w["promotions"] for w in page["deployments"]["per_week"]) in (0, 1)  # this week's, if v1 is recent
    # the drift report link serves the check's Evidently report from MLflow
    status, headers, html = get(
        f"{api_server.api_url}/mlops/models/{MODEL}/drift-report/{drifted['mlflow_run_id']}", api_server.token()
    )
    # data values end up in the report: it runs sandboxed, away from the Airflow session's origin
    assert headers["content-security-policy"] == "sandbox allow-scripts"
    report = Path(mlflow_client.download_artifacts(drifted["mlflow_run_id"], "drift_report.html", str(tmp_path)))
    assert status == 200 and html == report.read_bytes()
    status, _, body = get(f"{api_server.api_url}/mlops/api/models/{MODEL}/versions/1/lineage", api_server.token())
    record = json.loads(body)  # what `mlops lineage churn_dash 1 --json` prints
    assert (
        status == 200 and (record["model"], record["version"]) == (MODEL, "1") and len(record["data"]["sha256"]) == 64
    )
    assert get(f"{api_server.api_url}/mlops/api/models/not_a_model", api_server.token())[0] == 404


ROUTES = [
    "/mlops/",
    f"/mlops/models/{MODEL}",
    "/mlops/api/overview",
    f"/mlops/api/models/{MODEL}",
    f"/mlops/api/models/{MODEL}/versions/1/lineage",
    f"/mlops/models/{MODEL}/drift-report/0123456789abcdef",
    "/mlops/static/plotly.min.js",
]


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_refuses_anonymous_callers(api_server, route):
    status, headers, _ = get(api_server.api_url + route, follow=False)
    if "/api/" in route:
        assert status == 401, status
    else:  # a person is sent to Airflow's login, and back here after it
        assert status in (302, 307) and "/auth/login" in headers["location"], (status, headers)
    status, _, _ = get(api_server.api_url + route, "not-a-token", follow=False)
    assert status in (302, 307, 401, 403) and status != 200


def test_plotly_is_served_by_the_plugin_itself(api_server):
    status, headers, body = get(f"{api_server.api_url}/mlops/static/plotly.min.js", api_server.token())
    assert status == 200 and headers["content-type"].startswith("application/javascript")
    assert len(body) > 1_000_000 and b"plotly.js" in body[:2000]


def test_mlops_status_prints_the_same_summary_and_exits_1_when_a_model_needs_attention(api_server, pipelines):
    mlops = str(Path(sys.executable).parent / "mlops")
    args = ["--tracking-uri", f"sqlite:///{STATE / 'mlflow.db'}", "--api-url", api_server.api_url]
    env = {**os.environ, "AIRFLOW_API_TOKEN": api_server.token()}
    done = subprocess.run(
        [mlops, "status", MODEL, "--json", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1, done.stderr
    cli = json.loads(done.stdout)
    status, _, body = get(f"{api_server.api_url}/mlops/api/models/{MODEL}", api_server.token())
    assert status == 200
    page = json.loads(body)
    for key in ("health", "reasons", "champion", "drift", "versions", "drift_history", "candidate"):
        assert cli[key] == page[key], key
    text = subprocess.run([mlops, "status", MODEL, *args], env=env, capture_output=True, text=True, timeout=300)
    assert text.returncode == 1
    assert f"!! {MODEL}" in text.stdout and "drifting" in text.stdout and "champion v1 roc_auc" in text.stdout
    assert text.stdout.rstrip().endswith(f"1 need attention: {MODEL}")
    missing = subprocess.run(
        [mlops, "status", "no_such_model", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert missing.returncode == 2 and "no model 'no_such_model'" in missing.stderr


@needs_chromium
def test_the_pages_in_a_browser_show_the_registry_s_numbers(api_server, browser, pipelines, mlflow_client):
    champion = mlflow_client.get_model_version_by_alias(MODEL, "champion")
    auc = json.loads(champion.tags["mlops.metrics"])["roc_auc"]
    share = pipelines["checks"][-1]["drift_share"]
    with logged_in_page(browser, api_server, "viewer") as page:
        page.goto("/mlops/")
        row = page.locator(f'tr[data-model="{MODEL}"]')
        expect(row.locator('[data-field="health"]')).to_have_attribute("data-value", "drifting")
        expect(row.locator('[data-field="champion"]')).to_have_text("v1")
        expect(row.locator('[data-field="metric"]')).to_have_text(f"roc_auc {auc:.4f}")
        expect(row.locator('[data-field="drift"]')).to_contain_text(f"{share:.2f}")
        expect(page.locator("#cost-chart.js-plotly-plot")).to_be_visible()  # plotly.js loaded and drew
        screenshot(page, "dashboard-overview", full_page=True)

        row.get_by_role("link", name=MODEL).click()
        page.wait_for_url(f"**/mlops/models/{MODEL}")
        expect(page.locator('tr[data-alias="champion"] [data-field="version"]')).to_have_text("v1")
        for chart in ("drift-chart", "feature-chart", "deploy-chart", "training-chart"):
            expect(page.locator(f"#{chart}.js-plotly-plot")).to_be_visible()
        drifted = pipelines["checks"][-1]["drifted_columns"]
        for feature in drifted:
            expect(page.locator(f'#features tr[data-feature="{feature}"] td').last).to_have_text("drifted")
        screenshot(page, "dashboard-model", full_page=True)

        # inside the Airflow UI: the MLOps entry of the navigation shows the same page in the UI's frame
        page.goto("/plugin/mlops")
        frame = page.frame_locator("iframe")
        expect(frame.locator(f'tr[data-model="{MODEL}"] [data-field="champion"]')).to_have_text("v1")
        screenshot(page, "dashboard-in-airflow")
