"""Deep check of ``training.estimator``: parameter names and values, and the estimator's kind for the task.

Imports scikit-learn (and the estimator's package) only when a check runs, never at import time.
"""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import re
from collections.abc import Mapping
from typing import Any

from mlops_provider.config.problems import Issue, Loc, did_you_mean
from mlops_provider.config.schema import PipelineConfig

_ESTIMATOR: Loc = ("training", "estimator")
_INVALID_PARAM = re.compile(
    r"^The '(?P<name>[^']+)' parameter of \S+ must be (?P<want>.*)\. Got (?P<got>.*) instead\.$"
)


def estimator_issues(config: PipelineConfig, allowed: tuple[str, ...]) -> tuple[list[Issue], list[str]]:
    """Unknown parameters, rejected parameter values and a kind that does not fit the task; and the checks
    skipped because the estimator's package is not installed here."""
    from mlops_provider.modeling import EstimatorError, build_pipeline, estimator_class

    est_cfg = config.training.estimator
    path = est_cfg.class_
    top = path.split(".")[0]
    if importlib.util.find_spec(top) is None:
        return [], [
            f"training.estimator: package {top!r} of {path} is not installed where this command ran; "
            "run it where the deployment's packages are installed to check the parameters and the kind"
        ]
    try:
        cls: Any = estimator_class(path, allowed)
    except EstimatorError as exc:
        return [((*_ESTIMATOR, "class"), _class_problem(path, str(exc)))], []
    name = cls.__name__
    params = dict(est_cfg.params)
    # The names set_params accepts; random_state is set from training.seed.
    valid = [p for p in cls._get_param_names() if p != "random_state"]
    issues: list[Issue] = []
    for key in list(params):
        if key not in valid:
            hint = did_you_mean(key, valid)
            issues.append(
                (
                    (*_ESTIMATOR, "params", key),
                    f"{name} has no parameter {key!r}; {hint}remove it or use one of: {', '.join(valid)}",
                )
            )
            del params[key]
    try:
        estimator = cls(**params)
    except Exception as exc:  # e.g. a required argument without default
        issues.append(
            (
                (*_ESTIMATOR, "params"),
                f"{name}({_kwargs(params)}) cannot be created: {exc}; set the missing parameter or use another "
                "estimator",
            )
        )
        return issues, []
    issues += _value_issues(estimator, cls, params)
    kind = _kind_issue(estimator, config.task, path)
    if kind is not None:
        issues.append(kind)
    if not issues:  # what the train task builds first, so validate-ok means it builds
        try:
            build_pipeline(config, allowed)
        except Exception as exc:
            issues.append((_ESTIMATOR, f"the training pipeline cannot be built: {exc}"))
    return issues, []


def _kwargs(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


def _class_problem(path: str, error: str) -> str:
    module_name, _, cls_name = path.rpartition(".")
    fix = "name an estimator class that exists"
    try:
        module = importlib.import_module(module_name)
        close = difflib.get_close_matches(cls_name, [n for n in dir(module) if n[:1].isupper()], n=1)
        if close:
            fix = f"did you mean {module_name}.{close[0]}?"
    except ImportError:
        pass
    return f"{error.removeprefix('training.estimator.class ')}; {fix}"


def _value_issues(estimator: Any, cls: type, params: dict[str, Any]) -> list[Issue]:
    """Each parameter value the estimator's own validation rejects (scikit-learn >= 1.2; estimators without
    parameter constraints are not checked). ``_validate_params`` stops at the first bad value: that one is
    reset to its default and the rest validated again."""
    if getattr(cls, "_parameter_constraints", None) is None or not hasattr(estimator, "_validate_params"):
        return []
    signature = inspect.signature(cls)
    issues: list[Issue] = []
    for _ in range(len(params) + 1):
        try:
            estimator._validate_params()
            return issues
        except (ValueError, TypeError) as exc:
            found = _INVALID_PARAM.match(str(exc))
            if found is None or found.group("name") not in params:
                issues.append(((*_ESTIMATOR, "params"), f"{cls.__name__} rejects its parameters: {exc}"))
                return issues
            name = found.group("name")
            default = signature.parameters[name].default if name in signature.parameters else inspect.Parameter.empty
            reset = "" if default is inspect.Parameter.empty else f", or remove it to use the default ({default!r})"
            issues.append(
                (
                    (*_ESTIMATOR, "params", name),
                    f"got {found.group('got')}; {cls.__name__} needs {name} to be {found.group('want')}; "
                    f"change it{reset}",
                )
            )
            if default is inspect.Parameter.empty:
                return issues
            estimator.set_params(**{name: default})
    return issues


def _kind_issue(estimator: Any, task: str, path: str) -> Issue | None:
    from sklearn.base import is_classifier, is_regressor

    if (task == "classification" and is_classifier(estimator)) or (task == "regression" and is_regressor(estimator)):
        return None
    want, other = ("classifier", "regression") if task == "classification" else ("regressor", "classification")
    if is_regressor(estimator) or is_classifier(estimator):
        kind = "a regressor" if is_regressor(estimator) else "a classifier"
        alternative = f", or set task: {other} if that is what the model predicts"
    else:
        tag = getattr(estimator, "_estimator_type", None) or _tag_type(estimator)
        kind = f"a {tag}" if tag else "neither a classifier nor a regressor"
        alternative = ""
    module_name, _, cls_name = path.rpartition(".")
    twin = (
        cls_name.replace("Regressor", "Classifier")
        if want == "classifier"
        else cls_name.replace("Classifier", "Regressor")
    )
    example = (
        "sklearn.ensemble.HistGradientBoostingClassifier" if want == "classifier" else "sklearn.linear_model.Ridge"
    )
    if twin != cls_name and hasattr(importlib.import_module(module_name), twin):
        example = f"{module_name}.{twin}"
    return (
        (*_ESTIMATOR, "class"),
        f"{path} is {kind}, but task is {task}; use a {want} such as {example}{alternative}",
    )


def _tag_type(estimator: Any) -> str | None:
    try:
        from sklearn.utils import get_tags

        return str(get_tags(estimator).estimator_type or "") or None
    except Exception:  # pragma: no cover - scikit-learn < 1.6
        return None
