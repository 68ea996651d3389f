"""Alerts sent by pipeline tasks through a Slack receiver that fails: the task's event stands, the alert is kept."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.slack import TOKEN, TOKEN_PARTS, Receiver
from tests.integration.conftest import model_config, task_states

pytestmark = pytest.mark.integration


def test_a_promotion_whose_alert_slack_refuses_still_promotes_and_the_outbox_keeps_the_alert(
    run_training, mlflow_client, outbox, monkeypatch
):
    model = "churn_slackdown"
    with Receiver() as receiver:
        receiver.mode = "error"  # every POST answers 500
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv(
            "AIRFLOW_CONN_SLACK_MLOPS",
            json.dumps(
                {"conn_type": "slackwebhook", "host": f"http://127.0.0.1:{receiver.port}/services", "password": TOKEN}
            ),
        )
        dr = run_training(model_config(model))
        posts = list(receiver.posts)

    assert dr.state == "success", task_states(dr)
    assert str(mlflow_client.get_model_version_by_alias(model, "champion").version) == "1"
    (kept,) = [a for a in outbox() if a["model"] == model]
    assert kept["kind"] == "promoted" and "champion none → v1" in kept["text"]
    assert "Status Code: 500" in kept["slack_error"]
    assert len(posts) == 3  # the bounded attempts, then the outbox
    assert all(p["blocks"][0]["text"]["text"].startswith(":large_green_circle: *") for _, p in posts)
    raw = json.dumps(kept)
    assert not any(part in raw for part in TOKEN_PARTS)
