"""The holdout metrics of each task: which way is better, and which kinds of target each is defined for."""

from __future__ import annotations

CLASSIFICATION_METRICS: dict[str, bool] = {
    # metric -> higher is better
    "roc_auc": True,
    "accuracy": True,
    "balanced_accuracy": True,
    "f1": True,
    "f1_weighted": True,
    "precision": True,
    "recall": True,
    "average_precision": True,
    "log_loss": False,
}
REGRESSION_METRICS: dict[str, bool] = {
    "r2": True,
    "rmse": False,
    "mae": False,
}
ALL_METRICS: dict[str, bool] = {**CLASSIFICATION_METRICS, **REGRESSION_METRICS}
#: metric -> (the kinds of target it is defined for, its definition). Binary vs multiclass is decided from
#: the labels when the model is trained; a metric that does not apply (or cannot be computed) is reported
#: as "not available" with the reason, never as NaN.
METRIC_KINDS: dict[str, tuple[tuple[str, ...], str]] = {
    "roc_auc": (
        ("binary", "multiclass"),
        "area under the ROC curve of the positive-class probability; multiclass: one-vs-rest, macro average",
    ),
    "accuracy": (("binary", "multiclass"), "share of correct predictions"),
    "balanced_accuracy": (("binary", "multiclass"), "mean recall over the classes"),
    "f1": (("binary", "multiclass"), "F1 of the positive class; multiclass: macro average over the classes"),
    "f1_weighted": (("binary", "multiclass"), "F1 averaged over the classes, weighted by their support"),
    "precision": (("binary", "multiclass"), "precision of the positive class; multiclass: macro average"),
    "recall": (("binary", "multiclass"), "recall of the positive class; multiclass: macro average"),
    "average_precision": (("binary",), "area under the precision-recall curve of the positive class"),
    "log_loss": (("binary", "multiclass"), "cross-entropy of the predicted class probabilities"),
    "r2": (("regression",), "coefficient of determination"),
    "rmse": (("regression",), "root mean squared error"),
    "mae": (("regression",), "mean absolute error"),
}
