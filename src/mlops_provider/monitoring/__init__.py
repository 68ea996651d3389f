"""Monitoring: drift of served data and predictions against the champion's reference, and the retrain brakes.

* :mod:`~mlops_provider.monitoring.engine`: the fast drift engine; it decides every verdict
  (:func:`~mlops_provider.monitoring.engine.compute_drift`, :func:`~mlops_provider.monitoring.engine.merge_results`).
* :mod:`~mlops_provider.monitoring.evidently`: the Evidently adapter; Evidently renders the HTML report.
* :mod:`~mlops_provider.monitoring.window`: the current window, read from the prediction log.
* :mod:`~mlops_provider.monitoring.reference`: the champion, its training snapshot, its holdout scores and
  the training history the brakes look at.
* :mod:`~mlops_provider.monitoring.check`: one drift check's steps (settings, feature and prediction drift,
  the report, the summary) shared by the drift operators.
* :mod:`~mlops_provider.monitoring.brakes`: the brakes on drift-triggered retraining, a pure ``decide()``.

This package file stays light (no pandas, numpy, scipy or Evidently): the drift operators import from it
at DAG parse time. The modules above import their heavy libraries themselves; import them inside tasks.
"""

from __future__ import annotations


class DriftInputError(Exception):
    """A drift check cannot run on what it was given (no champion, no prediction log, mismatched inputs).

    The message says what is missing and what to run or change; the drift operators fail the task with it.
    """


__all__ = ["DriftInputError"]
