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
bad argument reads the same at run time. The estimator checks live in ``deep_estimator``, the expectation
checks in ``deep_gx``; their public names are importable from here. This module imports nothing heavy at
import time, and nothing that Airflow parses imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_provider.config.deep_estimator import estimator_issues
from mlops_provider.config.deep_gx import expectation_error_issues, expectation_issues
from mlops_provider.config.loader import config_files, defaults_for
from mlops_provider.config.locate import Defaults, place
from mlops_provider.config.problems import ConfigError, Issue, Problem, did_you_mean
from mlops_provider.config.schema import DEFAULT_ESTIMATOR_MODULES, PipelineConfig
from mlops_provider.config.yamlsafe import read_yaml

#: Expectation arguments that name columns of the data (a slice named by one is a column the data has).
COLUMN_ARGUMENTS = ("column", "column_A", "column_B", "column_list", "column_set")


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
    node = None
    defaults: Defaults = (None, None, None)
    if file is not None:
        try:
            data, node = read_yaml(Path(file))
            defaults = defaults_for(Path(file).parent)
        except ConfigError:  # the file changed since it was loaded: report without lines
            pass
    return [place(loc, message, data, node, defaults) for loc, message in issues]


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
        hint = did_you_mean(gate.slice, list(declared))
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
            data, _ = read_yaml(path)
        except ConfigError:
            continue
        if isinstance(data, dict) and data.get("model") == model:
            return str(path)
    return None


__all__ = [
    "AT_RUN",
    "AT_VALIDATE",
    "COLUMN_ARGUMENTS",
    "DeepCheck",
    "DeepConfigError",
    "Issue",
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
