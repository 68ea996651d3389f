"""The retention: section: defaults, its cron, and the rules across keys."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from mlops_provider.config import PipelineConfig


def _with(churn_data: dict[str, Any], **retention: Any) -> dict[str, Any]:
    data = copy.deepcopy(churn_data)
    data["retention"] = retention
    return data


def test_defaults_keep_five_archive_at_30_days_delete_at_90(churn_data):
    r = PipelineConfig.model_validate(churn_data).retention
    assert (r.schedule, r.keep_last, r.archive_after_days, r.delete_after_days) == ("0 4 * * 0", 5, 30, 90)
    assert (r.archive_root, r.prediction_log_days, r.drift_report_days) == (None, 180, 90)


def test_a_null_schedule_means_by_hand_only_and_a_bad_cron_is_refused(churn_data):
    assert PipelineConfig.model_validate(_with(churn_data, schedule=None)).retention.schedule is None
    with pytest.raises(ValidationError, match="'weekly' is not a cron expression"):
        PipelineConfig.model_validate(_with(churn_data, schedule="weekly"))


def test_delete_after_days_must_come_after_archive_after_days(churn_data):
    with pytest.raises(ValidationError) as err:
        PipelineConfig.model_validate(_with(churn_data, archive_after_days=60, delete_after_days=60))
    assert "delete_after_days (60) must be greater than archive_after_days (60)" in str(err.value)


def test_prediction_logs_are_kept_at_least_as_long_as_the_drift_window(churn_data):
    data = _with(churn_data, prediction_log_days=3)
    data.setdefault("drift", {})["window_days"] = 7
    with pytest.raises(ValidationError) as err:
        PipelineConfig.model_validate(data)
    assert "prediction_log_days (3) is shorter than drift.window_days (7)" in str(err.value)
    assert "set retention.prediction_log_days to 7 or more" in str(err.value)


def test_keep_last_is_at_least_one_and_unknown_keys_are_refused(churn_data):
    with pytest.raises(ValidationError):
        PipelineConfig.model_validate(_with(churn_data, keep_last=0))
    with pytest.raises(ValidationError, match="keep_lats"):
        PipelineConfig.model_validate(_with(churn_data, keep_lats=3))
