"""Every step that takes a ``random_state`` gets the config's seed, nested estimators included."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.ensemble import BaggingClassifier, RandomForestClassifier, StackingClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier

from mlops_provider.config import PipelineConfig
from mlops_provider.modeling import _seed_everything, build_pipeline, split
from tests.conftest import REPO


def random_states(estimator) -> dict[str, object]:
    return {k: v for k, v in estimator.get_params(deep=True).items() if k.split("__")[-1] == "random_state"}


@pytest.mark.parametrize(
    "model",
    [
        BaggingClassifier(estimator=DecisionTreeClassifier()),
        StackingClassifier(
            [("forest", RandomForestClassifier()), ("sgd", SGDClassifier())], final_estimator=LogisticRegression()
        ),
        VotingClassifier([("tree", DecisionTreeClassifier()), ("bag", BaggingClassifier(SGDClassifier()))]),
    ],
    ids=["bagging", "stacking", "voting"],
)
def test_nested_estimators_are_seeded(model):
    pipe = Pipeline([("model", model)])
    _seed_everything(pipe, 1234)
    states = random_states(pipe)
    assert len(states) >= 2, states  # the ensemble and what it wraps
    assert set(states.values()) == {1234}, states


def _config(**training) -> PipelineConfig:
    import yaml

    raw = yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text())
    raw["training"].update(training)
    return PipelineConfig.model_validate(raw)


def test_build_pipeline_seeds_a_randomized_estimator():
    cfg = _config(
        seed=99,
        estimator={"class": "sklearn.ensemble.ExtraTreesClassifier", "params": {"n_estimators": 5}},
    )
    states = random_states(build_pipeline(cfg))
    assert states == {"model__random_state": 99}


def test_split_uses_the_seed():
    df = pd.DataFrame({"x": range(200), "churned": [0, 1] * 100})
    a_train, a_hold = split(df, _config(seed=3))
    b_train, b_hold = split(df, _config(seed=3))
    _, c_hold = split(df, _config(seed=4))
    assert a_hold.equals(b_hold) and a_train.equals(b_train)
    assert not a_hold.equals(c_hold)
