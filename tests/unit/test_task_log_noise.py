"""Task logs stay readable: library import chatter is filtered before an operator runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import logging, sys, warnings
    import airflow.sdk  # loads Airflow's deprecation shims, as in every task process
    import airflow.utils.timezone, airflow.utils.trigger_rule  # noqa: F401
    from mlops_provider.operators.base import quiet_library_noise
    if sys.argv[1] == "quiet":
        quiet_library_noise()
    shown = []
    warnings.showwarning = lambda message, category, *a, **k: shown.append(category.__name__)
    records = []
    class Count(logging.Handler):
        def emit(self, record):
            records.append(record.name)
    logging.getLogger().addHandler(Count())
    logging.getLogger().setLevel(logging.INFO)
    import skops.io  # noqa: F401  (what MLflow's scikit-learn format imports on save and load)
    import great_expectations  # noqa: F401
    deprecations = sum(1 for name in shown if name == "DeprecatedImportWarning")
    gx_docs = sum(1 for name in records if name == "great_expectations._docs_decorators")
    print(deprecations, gx_docs)
    """
)


def _run(mode: str) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=300, check=True)
    deprecations, gx_docs = out.stdout.strip().splitlines()[-1].split()
    return int(deprecations), int(gx_docs)


def test_skops_and_gx_import_chatter_is_filtered_in_task_processes():
    noisy = _run("noisy")
    quiet = _run("quiet")
    # Without the filter, skops' scan of loaded modules trips Airflow's deprecation shims hundreds of
    # times and GX logs a line per documented function; each would be a task log record.
    assert noisy[0] > 100 and noisy[1] > 50, noisy
    assert quiet == (0, 0)


MLFLOW_SCRIPT = textwrap.dedent(
    """
    import logging, os, sys
    from mlops_provider.hooks.mlflow import route_mlflow_logging  # imports Airflow, which sets up logging first
    records = []
    class Keep(logging.Handler):  # stands for Airflow's task log handler on the root logger
        def emit(self, record):
            records.append((record.name, record.levelname))
    logging.getLogger().addHandler(Keep())
    logging.getLogger().setLevel(logging.INFO)
    import mlflow  # noqa: F401
    if sys.argv[1] == "quiet":  # what the MLflow hook does before every use of MLflow in a task
        route_mlflow_logging()
    logging.getLogger("mlflow.tracking._model_registry").info("Created version '3' of model 'churn'.")
    print(records, "MLFLOW_CONFIGURE_LOGGING" in os.environ)
    """
)


def test_mlflow_info_lines_reach_the_task_log_as_info_not_as_stderr():
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}  # MLflow's own defaults

    def run(mode: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", MLFLOW_SCRIPT, mode],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
            env=env,
        )

    noisy, quiet = run("noisy"), run("quiet")
    # Left alone, MLflow writes the line to stderr itself (which the task runner logs at error level) and
    # keeps it from Airflow's handlers.
    assert "Created version '3'" in noisy.stderr and "mlflow.tracking" not in noisy.stdout
    assert "Created version '3'" not in quiet.stderr
    assert "('mlflow.tracking._model_registry', 'INFO')" in quiet.stdout
    assert quiet.stdout.strip().endswith("False")  # nothing a child process would inherit
