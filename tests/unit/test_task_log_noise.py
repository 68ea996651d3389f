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
