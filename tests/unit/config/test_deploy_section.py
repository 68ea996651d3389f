"""The deploy: section: strategies, the trial window and gates, sign-off, and the rules across keys."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from mlops_provider.config import PipelineConfig


def _with(churn_data: dict[str, Any], deploy: dict[str, Any], **top: Any) -> dict[str, Any]:
    data = copy.deepcopy(churn_data)
    data["deploy"] = deploy
    data.update(top)
    return data


def test_direct_is_the_default_and_changes_nothing(churn_data):
    config = PipelineConfig.model_validate(churn_data)
    assert config.deploy.strategy == "direct" and config.deploy.target == "batch"
    assert config.deploy.approval.required is False


def test_a_canary_with_its_window_gates_and_sign_off(churn_data):
    deploy = {
        "strategy": "canary",
        "canary": {
            "fraction": 0.1,
            "min_rows": 1000,
            "min_runs": 3,
            "max_wait_hours": 48,
            "gates": {
                "max_error_rate": 0.01,
                "max_latency_ms": 5,
                "prediction_shift": {"method": "psi", "threshold": 0.2},
            },
        },
        "approval": {"required": True, "timeout_hours": 8, "assigned_users": ["alice"]},
    }
    config = PipelineConfig.model_validate(
        _with(churn_data, deploy, scoring={"source": "churn/current/{{ ds }}.parquet"})
    )
    assert config.deploy.canary.gates.prediction_shift is not None
    assert config.deploy.canary.gates.prediction_shift.method == "psi"
    assert config.deploy.approval.assigned_users == ["alice"]


@pytest.mark.parametrize(
    ("deploy", "top", "where", "says"),
    [
        ({"strategy": "canary"}, {"scoring": {}}, "deploy.strategy", "scoring.source is not set"),
        ({"strategy": "shadow"}, {"scoring": {}}, "deploy.strategy", "scoring.source is not set"),
        (
            {"canary": {"fraction": 0.2}},
            {"scoring": {"source": "x.parquet"}},
            "deploy.canary",
            "no effect with strategy: direct",
        ),
        (
            {"strategy": "canary", "canary": {"fraction": 0.9}},
            {"scoring": {"source": "x.parquet"}},
            "deploy.canary.fraction",
            "less than or equal to 0.5",
        ),
        ({"strategy": "blue_green"}, {}, "deploy.strategy", "'direct', 'canary' or 'shadow'"),
        ({"target": "endpoint"}, {}, "deploy.target", "'batch'"),
        ({"approval": {"required": True, "timeout_hours": 0}}, {}, "deploy.approval.timeout_hours", "greater than 0"),
    ],
)
def test_bad_deploy_settings_name_the_field(churn_data, deploy, top, where, says):
    with pytest.raises(ValidationError) as info:
        PipelineConfig.model_validate(_with(churn_data, deploy, **top))
    text = str(info.value)
    assert says in text, text
    assert where.split(".")[-1] in text, text


def test_a_canary_needs_an_entity_key_to_route_by(churn_data):
    data = _with(churn_data, {"strategy": "canary"}, scoring={"source": "x.parquet"})
    del data["data"]["entity_key"]
    with pytest.raises(ValidationError) as info:
        PipelineConfig.model_validate(data)
    assert "stable hash of its entity key, but data.entity_key is not set" in str(info.value)
    data["deploy"]["strategy"] = "shadow"  # shadow scores every row: no routing, no key needed
    assert PipelineConfig.model_validate(data).deploy.strategy == "shadow"


@pytest.mark.parametrize(
    "path", ["dags/configs/churn.yaml", "dags/configs/churn_canary.yaml", "docs/examples/churn_canary.yaml"]
)
def test_a_resolved_config_with_every_key_written_validates_again(path):
    """Lineage records the resolved config (defaults written out) and replay validates it again."""
    from pathlib import Path

    from mlops_provider.config import load_config

    config = load_config(Path(__file__).resolve().parents[3] / path)
    again = PipelineConfig.model_validate(config.model_dump(mode="json", by_alias=True))
    assert again == config
