"""Metrics, labels and gates for the models people have: multiclass, text/bool labels, classifiers without
predict_proba, regression. Small data sets built here; nothing from the churn example."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from mlops_provider.config import PipelineConfig
from mlops_provider.modeling import (
    LabelError,
    attach_labels,
    build_pipeline,
    drift_columns,
    evaluation,
    features_frame,
    model_labels,
    predict,
    prediction_columns,
    resolve_labels,
    split,
)
from mlops_provider.operators.gates import champion_gate, fairness_gates, metric_gates


def config(task: str = "classification", estimator: str = "sklearn.linear_model.LogisticRegression", **extra):
    data = extra.pop("data", {})
    return PipelineConfig.model_validate(
        {
            "model": "m",
            "task": task,
            "data": {
                "source": "m/labeled.parquet",
                "target": "label",
                "features": {"numeric": ["x1", "x2"], "categorical": ["grp"]},
                **data,
            },
            "training": {"estimator": {"class": estimator}, **({"stratify": False} if task == "regression" else {})},
            **extra,
        }
    )


def frame(kind: str, n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n), "grp": rng.choice(["a", "b"], n)})
    if kind == "multiclass":
        df["label"] = np.select([df.x1 > 0.5, df.x1 < -0.5], ["sun", "rain"], "cloud")
    elif kind == "wetdry":
        df["label"] = np.where(df.x1 > 0.8, "wet", "dry")
    else:
        df["label"] = 3 * df.x1 - df.x2 + rng.normal(scale=0.3, size=n)
    return df


def trained(cfg: PipelineConfig, df: pd.DataFrame):
    train, holdout = split(df, cfg)
    pipe = build_pipeline(cfg).fit(features_frame(train, cfg), train["label"])
    labels = resolve_labels(df["label"], cfg)
    attach_labels(pipe, labels)
    return pipe, holdout, labels


# -- labels ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "positive"),
    [
        ([0, 1, 1, 1], 1),  # yes-like wins over minority
        ([False, True, True], True),
        (["No", "YES", "YES"], "YES"),
        (["n", "y", "y"], "y"),
        (["negative", "positive", "positive"], "positive"),
        (["dry", "dry", "wet"], "wet"),  # nothing yes-like: the minority class
    ],
)
def test_positive_class_is_inferred(values, positive):
    labels = resolve_labels(pd.Series(values), config())
    assert labels.kind == "binary" and labels.positive == positive
    assert repr(positive) in labels.describe()


def test_positive_class_from_config_must_be_a_label():
    y = pd.Series(["wet", "dry", "dry"])
    assert resolve_labels(y, config(data={"positive_class": "dry"})).positive == "dry"
    with pytest.raises(LabelError, match=r"'damp' is not one of the labels found in column 'label': 'dry', 'wet'"):
        resolve_labels(y, config(data={"positive_class": "damp"}))
    with pytest.raises(LabelError, match="quote the label"):  # YAML's `yes` is a boolean
        resolve_labels(pd.Series(["yes", "no"]), config(data={"positive_class": True}))


def test_positive_class_must_be_a_scalar_and_if_unavailable_a_known_choice():
    with pytest.raises(ValidationError, match="positive_class must be one label value"):
        config(data={"positive_class": ["wet"]})
    with pytest.raises(ValidationError, match="if_unavailable"):
        config(gates={"metrics": [{"metric": "roc_auc", "min": 0.5, "if_unavailable": "maybe"}]})


def test_one_label_is_a_clear_error():
    with pytest.raises(LabelError, match="only one label"):
        resolve_labels(pd.Series(["a", "a"]), config())


# -- metrics -----------------------------------------------------------------------------------------


def test_multiclass_metrics_are_defined_and_json_safe():
    cfg = config()
    pipe, holdout, labels = trained(cfg, frame("multiclass"))
    assert labels.kind == "multiclass" and labels.classes == ("cloud", "rain", "sun")
    values, unavailable = evaluation(pipe, holdout, cfg)
    expected = {"roc_auc", "accuracy", "balanced_accuracy", "f1", "f1_weighted", "precision", "recall", "log_loss"}
    assert set(values) == expected
    assert set(unavailable) == {"average_precision"} and "binary" in unavailable["average_precision"]
    json.dumps(values, allow_nan=False)  # what XCom does with it
    assert 0.9 < values["roc_auc"] <= 1.0


def test_binary_text_labels_use_the_positive_class():
    cfg = config()
    pipe, holdout, labels = trained(cfg, frame("wetdry"))
    assert labels.positive == "wet"
    values, unavailable = evaluation(pipe, holdout, cfg)
    assert unavailable == {}
    p = predict(pipe, features_frame(holdout, cfg), "classification")
    assert np.allclose(p.score, p.proba[:, 1])  # classes ('dry', 'wet'): 'wet' is column 1
    # the same model judged with 'dry' as positive gives another recall
    dry = evaluation(pipe, holdout, cfg, resolve_labels(holdout["label"], config(data={"positive_class": "dry"})))[0]
    assert dry["recall"] != values["recall"] and dry["roc_auc"] == pytest.approx(values["roc_auc"])


def test_metrics_that_cannot_be_computed_are_reported_not_nan():
    cfg = config(estimator="sklearn.linear_model.RidgeClassifier")
    pipe, holdout, _ = trained(cfg, frame("wetdry"))
    values, unavailable = evaluation(pipe, holdout, cfg)
    assert {"roc_auc", "average_precision", "log_loss"} == set(unavailable)
    assert "no predict_proba" in unavailable["roc_auc"] and "accuracy" in values

    cfg = config()
    pipe, holdout, _ = trained(cfg, frame("wetdry"))
    only_dry = holdout[holdout["label"] == "dry"]
    values, unavailable = evaluation(pipe, only_dry, cfg)
    assert "absent" in unavailable["roc_auc"] and "'wet'" in unavailable["roc_auc"]
    assert "accuracy" in values


def test_regression_metrics():
    cfg = config("regression", "sklearn.linear_model.Ridge")
    pipe, holdout, labels = trained(cfg, frame("regression"))
    values, unavailable = evaluation(pipe, holdout, cfg)
    assert set(values) == {"r2", "rmse", "mae"} and unavailable == {} and values["r2"] > 0.9
    p = predict(pipe, features_frame(holdout, cfg), "regression")
    assert drift_columns(labels, p.classes, p.proba is not None) == (["prediction"], [])


def test_prediction_columns_of_a_multiclass_model():
    cfg = config()
    pipe, holdout, _ = trained(cfg, frame("multiclass"))
    p = predict(pipe, features_frame(holdout, cfg), "classification")
    cols = prediction_columns(p, "classification")
    assert {"prediction", "score", "probability", "proba.cloud", "proba.rain", "proba.sun"} == set(cols)
    assert np.allclose(cols["probability"], cols["score"])
    assert drift_columns(p.labels, p.classes, True) == (["proba.cloud", "proba.rain", "proba.sun"], ["prediction"])


def test_model_without_recorded_positive_class_falls_back_to_the_greater_label():
    cfg = config()
    df = frame("wetdry")
    pipe = build_pipeline(cfg).fit(features_frame(df, cfg), df["label"])
    assert model_labels(pipe, "classification").positive == "wet"


# -- gates -------------------------------------------------------------------------------------------


def gate_config(if_unavailable: str):
    return config(
        estimator="sklearn.linear_model.RidgeClassifier",
        gates={
            "metrics": [{"metric": "roc_auc", "min": 0.7, "if_unavailable": if_unavailable}],
            "champion": {"max_drop": 0.01, "if_unavailable": if_unavailable},
            "fairness": [{"slice": "grp", "metric": "log_loss", "max_gap": 0.1, "if_unavailable": if_unavailable}],
        },
    )


@pytest.mark.parametrize("if_unavailable", ["fail", "skip"])
def test_gates_on_unavailable_metrics_fail_or_skip_explicitly(if_unavailable):
    cfg = gate_config(if_unavailable)
    pipe, holdout, _ = trained(cfg, frame("wetdry"))
    values, unavailable = evaluation(pipe, holdout, cfg)
    results = [
        *metric_gates(cfg, values, unavailable),
        champion_gate(cfg, values.get("roc_auc"), 0.8, "3", None, unavailable.get("roc_auc")),
        *fairness_gates(cfg, pipe, holdout),
    ]
    for r in results:
        assert r is not None and r.value is None
        assert "not available" in r.detail and "predict_proba" in r.detail, r.detail
        if if_unavailable == "skip":
            assert r.passed and r.skipped and r.comparator == "skipped"
            assert "SKIPPED" in r.line() and "if_unavailable: skip" in r.detail
        else:
            assert not r.passed and not r.skipped and "FAILED" in r.line()


def test_champion_metric_unavailable_on_the_champion_side():
    cfg = gate_config("fail")
    gate = champion_gate(cfg, 0.9, None, "2", "not available: roc_auc needs class probabilities")
    assert gate is not None and not gate.passed and "champion v2 roc_auc not available" in gate.detail


def test_fairness_per_group_uses_the_multiclass_definitions():
    cfg = config(gates={"fairness": [{"slice": "grp", "metric": "f1", "max_gap": 0.5, "min_rows": 10}]})
    pipe, holdout, _ = trained(cfg, frame("multiclass", n=1200))
    (gate,) = fairness_gates(cfg, pipe, holdout)
    assert gate.value is not None and gate.passed and "grp=a" in gate.detail


def test_reproduction_compares_text_labels_of_a_classifier_without_probabilities():
    from mlops_provider.lineage.replay import compare_predictions

    cfg = config(estimator="sklearn.linear_model.RidgeClassifier")
    pipe, holdout, _ = trained(cfg, frame("wetdry"))
    same = compare_predictions(pipe, pipe, features_frame(holdout, cfg), "classification")
    assert same.same and same.method == "predict"


def test_positive_class_is_for_classification_only():
    with pytest.raises(ValidationError, match="positive_class 'wet' applies to classification only"):
        config("regression", "sklearn.linear_model.Ridge", data={"positive_class": "wet"})


def test_fairness_names_missing_slice_values_ties_and_the_min_rows_setting():
    cfg = config(gates={"fairness": [{"slice": "grp", "metric": "accuracy", "max_gap": 0.5, "min_rows": 30}]})
    df = frame("wetdry", n=900)
    pipe, holdout, _ = trained(cfg, df)
    holdout = holdout.copy()
    holdout["grp"] = holdout["grp"].astype("string")  # nullable: a missing value is pd.NA
    holdout.loc[holdout.index[:40], "grp"] = np.nan  # a slice value that is missing, not a group named "nan"
    holdout.loc[holdout.index[40:45], "grp"] = "c"  # a group too small to compare
    (gate,) = fairness_gates(cfg, pipe, holdout)
    assert "(missing)=" in gate.detail and "nan" not in gate.detail
    assert "groups under gates.fairness[0].min_rows = 30 holdout rows not compared: c (5)" in gate.detail

    # every compared group scores the same: no "between grp=a and grp=a"
    same = holdout[holdout["grp"].isin(["a", "b"])].copy()
    same[cfg.data.target] = pipe.predict(features_frame(same, cfg))
    (tie,) = fairness_gates(cfg, pipe, same)
    assert tie.value == 0 and "all 2 groups of grp equal (1.0000)" in tie.detail and "between" not in tie.detail

    # too few rows in every group: the message names the setting that held the verdict back
    (small,) = fairness_gates(cfg, pipe, holdout.head(25))
    assert not small.passed and "gates.fairness[0].min_rows = 30" in small.detail
