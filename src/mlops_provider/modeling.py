"""scikit-learn side of training: the pipeline, the split, the metrics. Imported only in task code."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from mlops_provider.config import PipelineConfig

from mlops_provider.config.schema import ALL_METRICS, DEFAULT_ESTIMATOR_MODULES
from mlops_provider.config.schema import METRIC_KINDS as _METRIC_KINDS


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

    stratify = df[config.data.target] if (config.task == "classification" and config.training.stratify) else None
    train, holdout = train_test_split(
        df, test_size=config.training.test_size, random_state=config.training.seed, stratify=stratify
    )
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


#: Labels that name the positive class of a binary target (compared case-insensitively as text).
YES_LIKE = ("yes", "true", "positive", "pos", "1", "y")
#: Attribute the training task sets on the fitted pipeline: the positive class of a binary target.
POSITIVE_CLASS_ATTR = "mlops_positive_class_"


class LabelError(ValueError):
    """The target's labels do not fit the task or the configured positive class."""


class MetricUnavailable(ValueError):
    """A metric cannot be computed for this model or data; the message is the reason."""


@dataclass(frozen=True)
class Labels:
    """What the target of a task is: ``binary``, ``multiclass`` or ``regression``, and for a binary
    target which class is positive and why."""

    kind: str
    classes: tuple[Any, ...] = ()
    positive: Any = None
    reason: str = ""

    def describe(self) -> str:
        if self.kind == "regression":
            return "regression target"
        shown = ", ".join(repr(c) for c in self.classes)
        if self.kind == "multiclass":
            return f"multiclass target with {len(self.classes)} classes ({shown})"
        return f"binary target ({shown}); positive class {self.positive!r} ({self.reason})"


def _native(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _yes_like(value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value) == 1.0
    return str(value).strip().lower() in YES_LIKE


def resolve_labels(y: Any, config: PipelineConfig) -> Labels:
    """Binary or multiclass (from the labels in ``y``) and the positive class of a binary target:
    ``data.positive_class`` when set (it must be one of the labels), else the one yes-like label
    (1 / True / yes, true, positive, pos, y), else the minority class."""
    if config.task == "regression":
        return Labels("regression")
    target = config.data.target
    values = pd.Series(y).dropna()
    counts = values.value_counts()
    try:
        classes = tuple(_native(c) for c in np.unique(values.to_numpy()))
    except TypeError:
        raise LabelError(
            f"target column {target!r} mixes label types ({sorted({type(v).__name__ for v in values})}); "
            "use one type for every label"
        ) from None
    if len(classes) < 2:
        raise LabelError(
            f"target column {target!r} has only one label ({', '.join(map(repr, classes)) or 'none'}); "
            "classification needs at least two classes in the training data"
        )
    configured = config.data.positive_class
    if configured is not None:
        match = [c for c in classes if c == configured and isinstance(c, bool) == isinstance(configured, bool)]
        match = match or [c for c in classes if str(c).strip().lower() == str(configured).strip().lower()]
        if not match:
            hint = (
                " (YAML reads yes/no/true/false/on/off as booleans: quote the label, e.g. positive_class: 'yes')"
                if isinstance(configured, bool) and any(isinstance(c, str) for c in classes)
                else ""
            )
            raise LabelError(
                f"data.positive_class {configured!r} is not one of the labels found in column {target!r}: "
                f"{', '.join(map(repr, classes))}; set it to one of them, or remove it to infer the positive "
                f"class{hint}"
            )
    if len(classes) > 2:
        return Labels("multiclass", classes)
    if configured is not None:
        return Labels("binary", classes, match[0], "set in data.positive_class")
    yes = [c for c in classes if _yes_like(c)]
    if len(yes) == 1:
        return Labels("binary", classes, yes[0], "inferred: the yes-like label")
    by_count = {_native(k): int(v) for k, v in counts.items()}
    low = min(classes, key=lambda c: (by_count.get(c, 0), -classes.index(c)))
    return Labels(
        "binary", classes, low, f"inferred: the minority class ({by_count.get(low, 0):,} of {len(values):,} rows)"
    )


def attach_labels(model: Any, labels: Labels) -> None:
    """Record the positive class on the fitted pipeline, so every later use of the model agrees."""
    setattr(model, POSITIVE_CLASS_ATTR, labels.positive)


def model_labels(model: Any, task: str) -> Labels:
    """The labels a fitted model knows: its classes, and the positive class training recorded on it
    (a model trained before that was recorded: the second class, scikit-learn's convention)."""
    if task == "regression":
        return Labels("regression")
    classes = tuple(_native(c) for c in getattr(model, "classes_", ()))
    if len(classes) > 2:
        return Labels("multiclass", classes)
    positive = getattr(model, POSITIVE_CLASS_ATTR, None)
    if positive is None and classes:
        return Labels("binary", classes, classes[-1], "the greater label")
    return Labels("binary", classes, positive, "recorded at training")


@dataclass
class Predictions:
    """One pass of a model over rows: the predicted labels/values and, for a classifier with
    ``predict_proba``, the probability of each class (columns in the order of ``classes``)."""

    pred: np.ndarray
    proba: np.ndarray | None
    classes: tuple[Any, ...]
    labels: Labels

    @property
    def score(self) -> np.ndarray | None:
        """Positive-class probability of a binary classifier, else None."""
        if self.proba is None or self.labels.kind != "binary" or self.labels.positive not in self.classes:
            return None
        return self.proba[:, self.classes.index(self.labels.positive)]

    @property
    def probability(self) -> np.ndarray | None:
        """Probability of the predicted class."""
        return None if self.proba is None else self.proba.max(axis=1)

    def subset(self, idx: Any) -> Predictions:
        return Predictions(self.pred[idx], None if self.proba is None else self.proba[idx], self.classes, self.labels)


def predict(model: Any, X: pd.DataFrame, task: str, labels: Labels | None = None) -> Predictions:
    """Predictions from one pass over ``X``. For a classifier with ``predict_proba`` the label is the most
    probable class (what ``predict`` does for scikit-learn's probabilistic classifiers)."""
    labels = labels or model_labels(model, task)
    if task == "classification" and hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(X), dtype="float64")
        classes = tuple(_native(c) for c in model.classes_)
        return Predictions(np.asarray(model.classes_)[proba.argmax(axis=1)], proba, classes, labels)
    classes = tuple(_native(c) for c in getattr(model, "classes_", ()))
    return Predictions(np.asarray(model.predict(X)), None, classes, labels)


def predict_scores(model: Any, X: pd.DataFrame, task: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(predictions, positive-class scores or None), from one pass over ``X``."""
    p = predict(model, X, task)
    return p.pred, p.score


METRIC_KINDS: dict[str, tuple[str, ...]] = {name: kinds for name, (kinds, _) in _METRIC_KINDS.items()}
_NEEDS_PROBA = ("roc_auc", "average_precision", "log_loss")


def metric(name: str, y_true: Any, p: Predictions) -> float:
    """One metric, or :class:`MetricUnavailable` with the reason it cannot be computed (never NaN/inf)."""
    import warnings

    from sklearn import metrics as m

    kind = p.labels.kind
    if kind not in METRIC_KINDS[name]:
        raise MetricUnavailable(f"{name} is defined for {' and '.join(METRIC_KINDS[name])} targets, not {kind}")
    y_true = np.asarray(y_true)
    if len(y_true) == 0:
        raise MetricUnavailable("no rows to evaluate")
    if name in _NEEDS_PROBA and p.proba is None:
        raise MetricUnavailable(f"{name} needs class probabilities and the model has no predict_proba")
    if name in _NEEDS_PROBA and kind == "binary" and p.score is None:
        raise MetricUnavailable(
            f"{name} needs the probability of the positive class {p.labels.positive!r}, which the model never saw "
            f"(its classes: {', '.join(map(repr, p.classes))})"
        )
    present = set(np.unique(y_true).tolist()) if kind != "regression" else set()
    if name in ("roc_auc", "average_precision"):
        absent = [c for c in p.classes if c not in present]
        if absent:
            raise MetricUnavailable(
                f"class(es) {', '.join(map(repr, absent))} absent from the evaluated rows, so {name} is undefined"
            )
    positive = p.labels.positive
    binary = kind == "binary"
    avg = "binary" if binary else "macro"
    fns = {
        "roc_auc": lambda: (
            m.roc_auc_score(y_true == positive, p.score)
            if binary
            else m.roc_auc_score(y_true, p.proba, multi_class="ovr", average="macro", labels=list(p.classes))
        ),
        "average_precision": lambda: m.average_precision_score(y_true == positive, p.score),
        "log_loss": lambda: (
            m.log_loss((y_true == positive).astype(int), p.score, labels=[0, 1])
            if binary
            else m.log_loss(y_true, p.proba, labels=list(p.classes))
        ),
        "accuracy": lambda: m.accuracy_score(y_true, p.pred),
        "balanced_accuracy": lambda: m.balanced_accuracy_score(y_true, p.pred),
        "f1": lambda: m.f1_score(y_true, p.pred, average=avg, pos_label=positive, zero_division=0),
        "f1_weighted": lambda: m.f1_score(y_true, p.pred, average="weighted", zero_division=0),
        "precision": lambda: m.precision_score(y_true, p.pred, average=avg, pos_label=positive, zero_division=0),
        "recall": lambda: m.recall_score(y_true, p.pred, average=avg, pos_label=positive, zero_division=0),
        "r2": lambda: m.r2_score(y_true, p.pred),
        "rmse": lambda: np.sqrt(m.mean_squared_error(y_true, p.pred)),
        "mae": lambda: m.mean_absolute_error(y_true, p.pred),
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = float(fns[name]())
    except ValueError as exc:
        raise MetricUnavailable(f"{name} cannot be computed: {str(exc).splitlines()[0]}") from None
    if not np.isfinite(value):
        raise MetricUnavailable(f"{name} is not finite on these rows ({value})")
    return value


def metric_names(task: str) -> tuple[str, ...]:
    from mlops_provider.config.schema import CLASSIFICATION_METRICS, REGRESSION_METRICS

    return tuple(CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS)


def evaluation(
    model: Any, df: pd.DataFrame, config: PipelineConfig, labels: Labels | None = None
) -> tuple[dict[str, float], dict[str, str]]:
    """Every metric of the config's task on ``df``: (finite values, {metric: why it is not available}).

    The predictions are made on one thread (BLAS/OpenMP at 1, joblib sequential): a forest with ``n_jobs``
    adds its trees' probabilities in the order its threads finish, which moves the last bits of a metric
    between two runs of the same model on the same rows, and the metrics are part of what a replay compares.
    """
    from joblib import parallel_config
    from threadpoolctl import threadpool_limits

    y = df[config.data.target].to_numpy()
    with threadpool_limits(limits=1), parallel_config(backend="sequential"):
        p = predict(model, features_frame(df, config), config.task, labels)
    values: dict[str, float] = {}
    unavailable: dict[str, str] = {}
    for n in metric_names(config.task):
        try:
            values[n] = metric(n, y, p)
        except MetricUnavailable as exc:
            unavailable[n] = str(exc)
    return values, unavailable


def evaluate(model: Any, df: pd.DataFrame, config: PipelineConfig, labels: Labels | None = None) -> dict[str, float]:
    """The metrics of the config's task on ``df`` that can be computed (the others are absent)."""
    return evaluation(model, df, config, labels)[0]


def trusted_types(pipe: Any, allowed: tuple[str, ...] = DEFAULT_ESTIMATOR_MODULES) -> list[str]:
    """Types the skops file of ``pipe`` needs trusted on load: only from allowed modules and numpy/scipy.

    MLflow stores scikit-learn models with skops (no pickle); loading refuses types not listed here.
    """
    import skops.io as sio

    untrusted = sio.get_untrusted_types(data=sio.dumps(pipe))
    roots = {*(m.split(".")[0] for m in allowed), "numpy", "scipy", "builtins", "collections"}
    foreign = [t for t in untrusted if t.split(".")[0] not in roots]
    if foreign:
        raise EstimatorError(f"the trained pipeline contains types from modules that are not allowed: {foreign}")
    return sorted(untrusted)


def higher_is_better(name: str) -> bool:
    return ALL_METRICS[name]


def proba_column(cls: Any) -> str:
    return f"proba.{cls}"


def prediction_columns(p: Predictions, task: str) -> dict[str, Any]:
    """The prediction columns of a prediction log (and of the drift reference built the same way):
    ``prediction`` (class or value), ``score`` (binary: positive-class probability; multiclass: probability
    of the predicted class; else empty), ``probability`` (of the predicted class) and ``proba.<class>``."""
    cols: dict[str, Any] = {"prediction": p.pred}
    if task != "classification" or p.proba is None:
        cols["score"] = np.full(len(p.pred), np.nan)
        return cols
    probability = p.probability
    cols["score"] = p.score if p.labels.kind == "binary" and p.score is not None else probability
    cols["probability"] = probability
    for i, cls in enumerate(p.classes):
        cols[proba_column(cls)] = p.proba[:, i]
    return cols


def drift_columns(labels: Labels, classes: Any, has_proba: bool) -> tuple[list[str], list[str]]:
    """Which prediction-log columns drift compares: (numeric, categorical).

    binary with probabilities: ``score``; multiclass: ``prediction`` as categorical and each ``proba.<class>``;
    a classifier without probabilities: ``prediction`` as categorical; regression: ``prediction``."""
    if labels.kind == "regression":
        return ["prediction"], []
    if not has_proba:
        return [], ["prediction"]
    if labels.kind == "binary":
        return ["score"], []
    return [proba_column(c) for c in classes], ["prediction"]
