"""scikit-learn side of training: the pipeline, the split, the metrics. Imported only in task code."""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from mlops_provider.config import PipelineConfig

from mlops_provider.config.schema import ALL_METRICS, DEFAULT_ESTIMATOR_MODULES


class EstimatorError(TypeError):
    """The configured estimator cannot be used."""


def estimator_class(path: str, allowed: tuple[str, ...] = DEFAULT_ESTIMATOR_MODULES) -> type:
    if not any(path == m or path.startswith(m + ".") for m in allowed):
        raise EstimatorError(f"{path} is not in an allowed module ({', '.join(allowed)})")
    module_name, _, cls_name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise EstimatorError(f"training.estimator.class {path!r} cannot be imported: {exc}") from None
    from sklearn.base import BaseEstimator

    if not (inspect.isclass(cls) and issubclass(cls, BaseEstimator)):
        raise EstimatorError(f"training.estimator.class {path!r} is not a scikit-learn estimator")
    return cls


def _seed_everything(pipe: Pipeline, seed: int) -> None:
    """Give every step (and nested estimator) that takes ``random_state`` the config's seed."""
    params = pipe.get_params(deep=True)
    updates = {k: seed for k in params if k == "random_state" or k.endswith("__random_state")}
    if updates:
        pipe.set_params(**updates)


def build_pipeline(config: PipelineConfig, allowed: tuple[str, ...] = DEFAULT_ESTIMATOR_MODULES) -> Pipeline:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    est_cfg = config.training.estimator
    cls = estimator_class(est_cfg.class_, allowed)
    try:
        estimator = cls(**est_cfg.params)
    except TypeError as exc:
        raise EstimatorError(f"training.estimator.params do not fit {est_cfg.class_}: {exc}") from None
    from sklearn.base import is_classifier, is_regressor

    if config.task == "classification" and not is_classifier(estimator):
        raise EstimatorError(f"{est_cfg.class_} is not a classifier but task is classification")
    if config.task == "regression" and not is_regressor(estimator):
        raise EstimatorError(f"{est_cfg.class_} is not a regressor but task is regression")
    feats = config.data.features
    transformers: list[tuple[str, Any, list[str]]] = []
    if feats.numeric:
        numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
        transformers.append(("numeric", numeric, list(feats.numeric)))
    if feats.categorical:
        categorical = Pipeline(
            [
                ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
                ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )
        transformers.append(("categorical", categorical, list(feats.categorical)))
    pipe = Pipeline([("preprocess", ColumnTransformer(transformers)), ("model", estimator)])
    _seed_everything(pipe, config.training.seed)
    return pipe


def features_frame(df: pd.DataFrame, config: PipelineConfig) -> pd.DataFrame:
    feats = config.data.features
    out = df[feats.all].copy()
    for col in feats.numeric:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    for col in feats.categorical:
        out[col] = out[col].astype("object").where(out[col].notna(), None)
    return out


def split(df: pd.DataFrame, config: PipelineConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    stratify = (
        df[config.data.target] if (config.task == "classification" and config.training.stratify) else None
    )
    train, holdout = train_test_split(
        df, test_size=config.training.test_size, random_state=config.training.seed, stratify=stratify
    )
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


def predict_scores(model: Any, X: pd.DataFrame, task: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(predictions, positive-class scores or None), from one pass over ``X``.

    For a classifier with ``predict_proba`` the label is the most probable class (what ``predict`` does
    for scikit-learn's probabilistic classifiers), so the model is not evaluated twice.
    """
    if task == "classification" and hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(X))
        pred = np.asarray(model.classes_)[proba.argmax(axis=1)]
        score = proba[:, 1] if proba.ndim == 2 and proba.shape[1] == 2 else None
        return pred, score
    return np.asarray(model.predict(X)), None


def metric(name: str, y_true: np.ndarray, pred: np.ndarray, score: np.ndarray | None) -> float:
    from sklearn import metrics as m

    if name == "roc_auc":
        if score is None or len(np.unique(y_true)) < 2:
            return float("nan")
        return float(m.roc_auc_score(y_true, score))
    if name == "average_precision":
        return float(m.average_precision_score(y_true, score)) if score is not None else float("nan")
    if name == "log_loss":
        return float(m.log_loss(y_true, score, labels=[0, 1])) if score is not None else float("nan")
    binary = len(np.unique(np.concatenate([np.asarray(y_true), pred]))) <= 2
    avg = "binary" if binary else "macro"
    fns = {
        "accuracy": lambda: m.accuracy_score(y_true, pred),
        "balanced_accuracy": lambda: m.balanced_accuracy_score(y_true, pred),
        "f1": lambda: m.f1_score(y_true, pred, average=avg, zero_division=0),
        "precision": lambda: m.precision_score(y_true, pred, average=avg, zero_division=0),
        "recall": lambda: m.recall_score(y_true, pred, average=avg, zero_division=0),
        "r2": lambda: m.r2_score(y_true, pred),
        "rmse": lambda: np.sqrt(m.mean_squared_error(y_true, pred)),
        "mae": lambda: m.mean_absolute_error(y_true, pred),
    }
    return float(fns[name]())


def evaluate(model: Any, df: pd.DataFrame, config: PipelineConfig) -> dict[str, float]:
    """Every metric of the config's task on ``df``."""
    from mlops_provider.config.schema import CLASSIFICATION_METRICS, REGRESSION_METRICS

    names = CLASSIFICATION_METRICS if config.task == "classification" else REGRESSION_METRICS
    y = df[config.data.target].to_numpy()
    pred, score = predict_scores(model, features_frame(df, config), config.task)
    return {n: metric(n, y, pred, score) for n in names}


def trusted_types(pipe: Any, allowed: tuple[str, ...] = DEFAULT_ESTIMATOR_MODULES) -> list[str]:
    """Types the skops file of ``pipe`` needs trusted on load: only from allowed modules and numpy/scipy.

    MLflow stores scikit-learn models with skops (no pickle); loading refuses types not listed here.
    """
    import skops.io as sio

    untrusted = sio.get_untrusted_types(data=sio.dumps(pipe))
    roots = {*(m.split(".")[0] for m in allowed), "numpy", "scipy", "builtins", "collections"}
    foreign = [t for t in untrusted if t.split(".")[0] not in roots]
    if foreign:
        raise EstimatorError(
            f"the trained pipeline contains types from modules that are not allowed: {foreign}"
        )
    return sorted(untrusted)


def higher_is_better(name: str) -> bool:
    return ALL_METRICS[name]
