"""Deep checks: what the schema cannot see without the libraries that will run the config.

The loader (run on every DAG parse) checks a config's shape and never imports scikit-learn or Great
Expectations. Some configs pass it and can still only fail when a task runs. These checks import the
libraries and find them at validate time, without data and without fitting anything:

* **estimator parameters**: unknown parameter names (with the closest valid name) and values the
  estimator's own parameter validation rejects (``max_iter: -5``, ``learning_rate: "fast"``), using
  scikit-learn's ``_validate_params`` (what ``fit`` calls first);
* **estimator kind**: a regressor for ``task: classification`` or a classifier for ``task: regression``;
* **expectation arguments**: every expectation is built as Great Expectations builds it for the run, and
  each argument it rejects becomes one problem;
* **fairness slices**: the slice must be a column the config declares (see :func:`declared_columns`).

``mlops validate`` runs them after the loader; the validate-data task reuses :func:`expectation_error` so a
bad argument reads the same at run time. This module imports nothing heavy at import time, and nothing that
Airflow parses imports it.
"""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_provider.config.gx_catalog import GX_EXPECTATIONS
from mlops_provider.config.loader import (
    ConfigError,
    Loc,
    Problem,
    _defaults_for,
    _has_path,
    _line_of,
    _read_yaml,
    config_files,
    format_loc,
)
from mlops_provider.config.schema import DEFAULT_ESTIMATOR_MODULES, PipelineConfig

Issue = tuple[Loc, str]  # (field path as in the YAML file, message)

#: Expectation arguments that name columns of the data (a slice named by one is a column the data has).
COLUMN_ARGUMENTS = ("column", "column_A", "column_B", "column_list", "column_set")
#: Arguments every expectation takes and GX fills in itself; not listed as an expectation's arguments.
_GX_INTERNAL = {"batch_id", "id", "rendered_content", "windows"}
#: Arguments every expectation takes (listed only when suggesting a name).
_COMMON = {"meta", "notes", "result_format", "description", "catch_exceptions", "severity"}
_MISSING = object()


@dataclass
class DeepCheck:
    """The outcome of :func:`deep_check`: problems (the config would fail at run time) and checks that could
    not run where the command ran (with the reason)."""

    problems: list[Problem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class DeepConfigError(ConfigError):
    """Problems a config only shows when its tasks run. Its DAGs are built; its runs would fail."""

    def __init__(self, file: str | Path | None, problems: Sequence[Problem], *, effect: str, model: str = "") -> None:
        self.effect = effect
        self.model = model
        super().__init__(file if file is not None else "", problems)

    def render(self) -> str:
        n = len(self.problems)
        name = self.file or (f"of model {self.model!r}" if self.model else "(file unknown)")
        check = self.file or "<configs folder>"
        lines = [
            f"Invalid pipeline config {name} ({n} problem{'s' if n != 1 else ''}):",
            *(f"  - {p.render()}" for p in self.problems),
            f"  {self.effect.format(check=check)}",
        ]
        return "\n".join(lines)


#: Closing lines of a :class:`DeepConfigError` ({check} is the file to pass to mlops validate).
AT_VALIDATE = (
    "Airflow builds this file's DAGs (DAG parsing checks only the config's shape), but their runs would fail "
    "on these fields. Fix them and check again with: mlops validate {check}"
)
AT_RUN = (
    "The training data was not validated and no model was trained; a retry fails the same way. Fix the config, "
    "check it with: mlops validate {check}, and re-run the DAG."
)


# -- entry point -----------------------------------------------------------------------------------------


def deep_check(
    config: PipelineConfig,
    file: str | Path | None = None,
    *,
    allowed_estimator_modules: Iterable[str] = (),
) -> DeepCheck:
    """Every deep check of one loaded config. ``file`` (the config's path) gives the problems their lines.

    ``allowed_estimator_modules`` are the modules estimators may come from, as given to the loader (empty:
    scikit-learn only). Imports scikit-learn, and Great Expectations when the config has expectations.
    """
    allowed = tuple(allowed_estimator_modules) or DEFAULT_ESTIMATOR_MODULES
    issues: list[Issue] = []
    skipped: list[str] = []
    checks: tuple[tuple[str, Callable[[], tuple[list[Issue], list[str]]]], ...] = (
        ("training.estimator", lambda: estimator_issues(config, allowed)),
        ("expectations", lambda: (expectation_issues(config.expectations), [])),
        ("gates.fairness", lambda: ([], fairness_notes(config))),
    )
    for what, check in checks:
        try:
            found, notes = check()
        except Exception as exc:  # a library that behaves unexpectedly must not hide the other checks
            skipped.append(f"{what}: the check itself failed ({type(exc).__name__}: {exc})")
            continue
        issues += found
        skipped += notes
    return DeepCheck(locate(issues, file), skipped)


def locate(issues: Iterable[Issue], file: str | Path | None) -> list[Problem]:
    """Problems with the line each field is on: in ``file``, or in its folder's defaults.yaml when the value
    is inherited from there (the loader's rule)."""
    issues = list(issues)
    if not issues:
        return []
    data: Any = None
    node = defaults_data = defaults_node = defaults_file = None
    if file is not None:
        try:
            data, node = _read_yaml(Path(file))
            defaults_file, defaults_data, defaults_node = _defaults_for(Path(file).parent)
        except ConfigError:  # the file changed since it was loaded: report without lines
            pass
    problems = []
    for loc, message in issues:
        line: int | None = None
        source: str | None = None
        if node is not None:
            if _has_path(data, loc) or defaults_node is None or not _has_path(defaults_data, loc):
                line = _line_of(node, loc)
            else:
                line, source = _line_of(defaults_node, loc), str(defaults_file)
        problems.append(Problem(format_loc(loc), message, line, source))
    return problems


# -- estimator -------------------------------------------------------------------------------------------

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
            hint = _did_you_mean(key, valid)
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


def _did_you_mean(name: str, names: Sequence[str]) -> str:
    """'did you mean 'x'? ' for the closest name (or the one name ``name`` abbreviates), else ''."""
    close = difflib.get_close_matches(name, names, n=1) or [n for n in names if n.startswith(name)][:1]
    return f"did you mean {close[0]!r}? " if close and close[0] != name else ""


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


# -- Great Expectations ----------------------------------------------------------------------------------


def _gx_expectations() -> Any:
    import logging

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:  # its import logs metric registrations at INFO
        gx_logger.setLevel(logging.WARNING)
    from great_expectations import expectations

    return expectations


def expectation_issues(expectations: Sequence[Mapping[str, Mapping[str, Any] | None]]) -> list[Issue]:
    """Build each expectation as the run will; one issue per argument Great Expectations rejects."""
    if not expectations:
        return []
    gxe = _gx_expectations()
    issues: list[Issue] = []
    for i, item in enumerate(expectations):
        ((name, kwargs),) = item.items()
        cls = getattr(gxe, GX_EXPECTATIONS[name])
        try:
            cls(**(kwargs or {}))
        except Exception as exc:
            issues += expectation_error_issues(i, name, exc, cls, kwargs)
    return issues


#: Pydantic error types (v1, which GX 1.x uses, and v2) -> what the argument must be.
_WANTED = {
    "type_error.float": "a number",
    "type_error.number": "a number",
    "float_parsing": "a number",
    "float_type": "a number",
    "type_error.integer": "a whole number",
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "type_error.str": "text",
    "string_type": "text",
    "type_error.bool": "true or false",
    "bool_parsing": "true or false",
    "type_error.list": "a list",
    "type_error.set": "a list",
    "type_error.sequence": "a list",
    "list_type": "a list",
    "set_type": "a list",
    "value_error.date": "a date (YYYY-MM-DD)",
    "date_parsing": "a date (YYYY-MM-DD)",
    "value_error.datetime": "a date-time (YYYY-MM-DDTHH:MM:SS)",
    "datetime_parsing": "a date-time (YYYY-MM-DDTHH:MM:SS)",
    "type_error.none.not_allowed": "a value (not null)",
    "none_required": "null",
}
_BOUND = {
    "value_error.number.not_le": "at most",
    "less_than_equal": "at most",
    "value_error.number.not_lt": "less than",
    "less_than": "less than",
    "value_error.number.not_ge": "at least",
    "greater_than_equal": "at least",
    "value_error.number.not_gt": "greater than",
    "greater_than": "greater than",
}
#: The suite-parameter alternative ({"$PARAMETER": name}) GX allows for most arguments: not a fix to offer.
_DICT = {"type_error.dict", "dict_type"}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def expectation_error_issues(
    index: int, name: str, error: Exception, cls: type | None = None, kwargs: Mapping[str, Any] | None = None
) -> list[Issue]:
    """Issues for the exception Great Expectations raised building expectation ``index`` (``name``, with the
    arguments ``kwargs``): one per argument, each naming the argument, the value, what it must be and the fix."""
    where: Loc = ("expectations", index, name)
    gx_name = GX_EXPECTATIONS.get(name, name)
    errors = getattr(error, "errors", None)
    try:
        details = list(errors()) if callable(errors) else []
    except Exception:  # pragma: no cover - not a pydantic error after all
        details = []
    if not details:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        return [(where, f"Great Expectations rejects the arguments of {gx_name}: {first}; fix them")]
    fields = [f for f in _fields(cls) if f not in _GX_INTERNAL]
    own = [f for f in fields if f not in _COMMON]
    by_arg: dict[str, list[Mapping[str, Any]]] = {}
    for detail in details:
        loc = tuple(detail.get("loc") or ())
        by_arg.setdefault(str(loc[0]) if loc else "__root__", []).append(detail)
    issues: list[Issue] = []
    for arg, errs in by_arg.items():
        kinds = {str(e.get("type")) for e in errs}
        if arg == "__root__":  # a rule across arguments
            text = "; ".join(dict.fromkeys(str(e.get("msg")) for e in errs))
            issues.append((where, f"Great Expectations rejects the arguments of {gx_name}: {text}; fix them"))
        elif kinds & {"value_error.extra", "extra_forbidden"}:
            hint = _did_you_mean(arg, fields)
            listing = f" or use one of its arguments: {', '.join(own)}" if own else ""
            issues.append(((*where, arg), f"{gx_name} has no argument {arg!r}; {hint}remove it{listing}"))
        elif kinds & {"value_error.missing", "missing"}:
            issues.append(
                (
                    (*where, arg),
                    f"{gx_name} needs the argument {arg!r}, which is missing; add it, e.g. '- {name}: {{{arg}: ...}}'",
                )
            )
        else:
            value = kwargs[arg] if kwargs is not None and arg in kwargs else errs[0].get("input", _MISSING)
            issues.append(((*where, arg), _value_message(gx_name, arg, errs, value)))
    return issues


def _value_message(gx_name: str, arg: str, errs: Sequence[Mapping[str, Any]], value: Any) -> str:
    wants: list[str] = []
    for e in errs:
        kind = str(e.get("type"))
        ctx = e.get("ctx") or {}
        if kind in _WANTED:
            wants.append(_WANTED[kind])
        elif kind in _BOUND:
            limit = next((ctx[k] for k in ("limit_value", "le", "lt", "ge", "gt") if k in ctx), "its bound")
            wants.append(f"a number {_BOUND[kind]} {limit}")
        elif kind in ("type_error.enum", "enum"):
            values = ctx.get("enum_values") or ctx.get("expected") or []
            listed = values if isinstance(values, str) else ", ".join(repr(getattr(v, "value", v)) for v in values)
            wants.append(f"one of {listed}")
        elif kind not in _DICT:
            wants.append(str(e.get("msg")))
    wants = list(dict.fromkeys(wants)) or ["a mapping"]
    want = wants[0] if len(wants) == 1 else ", ".join(wants[:-1]) + " or " + wants[-1]
    got = f"got {_shown(value)}; " if value is not _MISSING else ""
    return f"{got}{gx_name} needs {arg} to be {want}; change the value of {arg}"


def _fields(cls: type | None) -> list[str]:
    if cls is None:
        return []
    found = getattr(cls, "__fields__", None) or getattr(cls, "model_fields", None) or {}
    return [str(f) for f in found]


def expectation_error(
    error: Exception,
    index: int,
    name: str,
    *,
    kwargs: Mapping[str, Any] | None = None,
    cls: type | None = None,
    config_file: str | Path | None = None,
    model: str = "",
) -> str:
    """The run-time message for expectation ``index`` that Great Expectations would not build: the problems
    ``mlops validate`` reports for it, naming the config file (and line), the expectation, each argument and
    the fix."""
    issues = expectation_error_issues(index, name, error, cls, kwargs)
    return str(DeepConfigError(config_file, locate(issues, config_file), effect=AT_RUN, model=model))


# -- fairness --------------------------------------------------------------------------------------------


def declared_columns(config: PipelineConfig) -> dict[str, str]:
    """The columns a config says its training data has: column -> how it says so.

    The features, the target, ``data.time_column``, ``data.entity_key``, and every column an expectation
    names (``column``, ``column_A``, ``column_B``, ``column_list``, ``column_set``): the validate-data task
    fails when one of those is missing, so each is known to be in the data the gates see.
    """
    data = config.data
    found: dict[str, str] = {c: "feature" for c in data.features.all}
    found.setdefault(data.target, "target")
    for col, what in ((data.time_column, "time_column"), (data.entity_key, "entity_key")):
        if col:
            found.setdefault(col, what)
    for i, item in enumerate(config.expectations):
        for kwargs in item.values():
            for arg in COLUMN_ARGUMENTS:
                value = (kwargs or {}).get(arg)
                names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
                for col in names:
                    if isinstance(col, str):
                        found.setdefault(col, f"expectations[{i}]")
    return found


def fairness_notes(config: PipelineConfig) -> list[str]:
    """Fairness slices on columns the config does not declare (:func:`declared_columns`).

    Not an error: the data's other columns are unknown until a run reads it, and a run whose data lacks the
    slice fails in validate_data with the column named. Declaring the column with an expectation
    (``expect_column_to_exist``) makes this note go away; a near miss of a declared column is pointed out.
    """
    declared = declared_columns(config)
    notes: list[str] = []
    for i, gate in enumerate(config.gates.fairness):
        if gate.slice in declared:
            continue
        hint = _did_you_mean(gate.slice, list(declared))
        notes.append(
            f"gates.fairness[{i}].slice {gate.slice!r} is not a column this config declares (features, target, "
            f"time_column, entity_key, or a column an expectation names), so only a run can tell whether the data "
            f"has it; {hint}declare it with '- expect_column_to_exist: {{column: {gate.slice}}}' under expectations"
        )
    return notes


# -- run time --------------------------------------------------------------------------------------------


def config_file_for(model: str, configs_dir: str | Path) -> str | None:
    """The file of ``configs_dir`` that declares ``model`` (read with the loader's safe reader), or None."""
    for path in config_files(configs_dir):
        try:
            data, _ = _read_yaml(path)
        except ConfigError:
            continue
        if isinstance(data, dict) and data.get("model") == model:
            return str(path)
    return None


__all__ = [
    "AT_RUN",
    "AT_VALIDATE",
    "DeepCheck",
    "DeepConfigError",
    "config_file_for",
    "declared_columns",
    "deep_check",
    "estimator_issues",
    "expectation_error",
    "expectation_error_issues",
    "expectation_issues",
    "fairness_notes",
    "locate",
]
