"""Validate training data with Great Expectations before anything is trained."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from mlops_provider.naming import VALIDATION_ARTIFACT
from mlops_provider.operators.base import MlopsBaseOperator

if TYPE_CHECKING:
    import pandas as pd
    from airflow.sdk import Context


class DataValidationFailed(AirflowFailException):
    """Expectations failed on the training data; the message lists which, with counts.

    Not retried: the same data fails the same way.
    """


def run_expectations(
    df: pd.DataFrame,
    expectations: list[dict[str, dict[str, Any]]],
    suite_name: str,
    *,
    config_file: str | None = None,
) -> dict[str, Any]:
    """Run the config's expectations on ``df`` with GX 1.x; return GX's JSON result (SUMMARY format).

    An expectation GX will not build (an argument it rejects) raises :class:`DataValidationFailed` before
    anything is validated, with the message ``mlops validate`` gives: the config file and line, the
    expectation, each bad argument and the fix. ``config_file`` names the file; by default it is the file
    of the running DAG's ``configs/`` folder that declares the task's model.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    from mlops_provider.config.gx_catalog import GX_EXPECTATIONS

    context = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # pragma: no cover - progress bars are cosmetic
        pass
    batch = (
        context.data_sources.add_pandas("mlops")
        .add_dataframe_asset("training_data")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": df})
    )
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
    for i, item in enumerate(expectations):
        ((name, kwargs),) = item.items()
        cls = getattr(gx.expectations, GX_EXPECTATIONS[name])
        try:
            suite.add_expectation(cls(**(kwargs or {})))
        except Exception as exc:
            from pathlib import Path

            from mlops_provider.config.deep import config_file_for, expectation_error

            model = ""
            try:  # the running task's model, and the configs folder beside the DAG file that loaded it
                from airflow.sdk import get_current_context

                task_context = get_current_context()
                model = task_context["task"].pipeline.model  # type: ignore[union-attr]
                if config_file is None:
                    config_file = config_file_for(model, Path(task_context["dag"].fileloc).parent / "configs")
            except Exception:  # not inside a task: the message names what it knows
                pass
            raise DataValidationFailed(
                expectation_error(exc, i, name, kwargs=kwargs, cls=cls, config_file=config_file, model=model)
            ) from None
    result = batch.validate(suite, result_format="SUMMARY")
    return dict(result.to_json_dict())


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """The person-sized part of a GX result: counts and each failed expectation with its numbers."""
    failed = []
    for r in result.get("results", []):
        if r.get("success"):
            continue
        cfg = r.get("expectation_config", {})
        kwargs = {k: v for k, v in (cfg.get("kwargs") or {}).items() if k not in ("batch_id",)}
        res = r.get("result") or {}
        exc_info = r.get("exception_info") or {}
        failed.append(
            {
                "expectation": cfg.get("type"),
                "kwargs": kwargs,
                "unexpected_count": res.get("unexpected_count"),
                "unexpected_percent": res.get("unexpected_percent"),
                "observed_value": res.get("observed_value"),
                "partial_unexpected_list": (res.get("partial_unexpected_list") or [])[:5],
                "exception": exc_info.get("exception_message") if exc_info.get("raised_exception") else None,
            }
        )
    stats = result.get("statistics", {})
    return {
        "success": bool(result.get("success")),
        "evaluated": int(stats.get("evaluated_expectations", 0)),
        "failed": int(stats.get("unsuccessful_expectations", 0)),
        "failures": failed,
    }


def failure_message(model: str, summary: dict[str, Any], rows: int, where: str) -> str:
    """What failed, with numbers: the built-in checks (``summary["checks"]``) first, then the expectations."""
    checks = summary.get("checks") or {"evaluated": 0, "failed": 0, "failures": []}
    counts = []
    if checks["failed"]:
        counts.append(f"{checks['failed']} of {checks['evaluated']} built-in checks")
    if summary["failed"] or not checks["failed"]:
        counts.append(f"{summary['failed']} of {summary['evaluated']} expectations")
    lines = [
        f"Data validation failed for {model}: {' and '.join(counts)} failed on {rows:,} rows. No model was trained.",
    ]
    for c in checks["failures"]:
        lines.append(f"  - built-in {c['check']}(column={c['column']!r}): {c['message']}")
    for f in summary["failures"]:
        args = ", ".join(f"{k}={v!r}" for k, v in f["kwargs"].items())
        detail = []
        if f["exception"]:
            detail.append(f"error: {f['exception']}")
        if f["unexpected_count"] is not None:
            pct = f["unexpected_percent"]
            detail.append(
                f"{f['unexpected_count']:,} unexpected ({pct:.2f}%)"
                if pct is not None
                else f"{f['unexpected_count']:,} unexpected"
            )
        if f["observed_value"] is not None:
            detail.append(f"observed {f['observed_value']!r}")
        if f["partial_unexpected_list"]:
            detail.append(f"e.g. {f['partial_unexpected_list']}")
        lines.append(f"  - {f['expectation']}({args}): {'; '.join(detail) or 'failed'}")
    lines.append(
        f"Full result: {where}. Fix the data at its source (or the expectation, if the data is right) "
        "and re-run the DAG."
    )
    return "\n".join(lines)


class ValidateDataOperator(MlopsBaseOperator):
    """Snapshot the training window, run the built-in checks and the config's Great Expectations checks on it.

    Opens (or, on retry, finds) the DAG run's MLflow run, stores the training window as an immutable
    content-addressed snapshot, and logs the validation result to the run (``data_validation.json``).
    The built-in checks (:func:`mlops_provider.datasets.builtin_checks`) always run: every feature has values
    in the window and in its newest partitions, and the target has no empty value.

    :return: ``{"mlflow_run_id", "snapshot_uri", "data_sha256", "rows", "window_start", "window_end",
        "source", "validation": {"success", "evaluated", "failed", "failures", "checks"}}`` (``evaluated``,
        ``failed`` and ``failures`` count the expectations; ``checks`` the built-in checks, the same way)
    :raises DataValidationFailed: a built-in check or an expectation failed; the message lists each with its
        counts.
    :raises PermanentDataError: the data cannot make a training window (a file that is not valid, a column with
        different types in different files, a time column that is not one); not retried.
    """

    ui_color = "#fff3cd"

    def _open_run(self, context: Context) -> str:
        client = self.mlflow_hook.get_conn()
        experiment_id = self.mlflow_hook.ensure_experiment(self.experiment_name)
        dag_id = context["dag"].dag_id
        run_id = context["run_id"]
        existing = client.search_runs(
            [experiment_id],
            filter_string=(f"tags.`mlops.airflow_dag_id` = '{dag_id}' and tags.`mlops.airflow_run_id` = '{run_id}'"),
            max_results=1,
        )
        if existing:
            return str(existing[0].info.run_id)
        run = client.create_run(
            experiment_id,
            run_name=f"{self.model_name}-{run_id}"[:250],
            tags={
                "mlops.airflow_dag_id": dag_id,
                "mlops.airflow_run_id": run_id,
                "mlops.model": self.model_name,
                "mlops.trigger": json.dumps(self.trigger_record(context), sort_keys=True),
            },
        )
        return str(run.info.run_id)

    def execute(self, context: Context) -> dict[str, Any]:
        from mlops_provider.datasets import builtin_checks, read_window, resolve_source, store_snapshot
        from mlops_provider.paths import DataRoots

        cfg = self.pipeline
        roots = DataRoots.from_settings()  # reads only inside the data roots; a path out of them fails, not retried
        window = read_window(cfg, resolve_source(cfg.data.source, roots), self.storage, roots=roots)
        checks = builtin_checks(window, cfg)
        snap = store_snapshot(cfg, window, snapshot_root=self.snapshot_root(), storage=self.storage)
        df = window.frame
        self.log.info(
            "Training window: %s rows from %s (%s files, %s..%s); snapshot %s",
            f"{snap.rows:,}",
            snap.source,
            snap.source_files,
            snap.window_start,
            snap.window_end,
            snap.uri,
        )
        run_id = self._open_run(context)
        client = self.mlflow_hook.get_conn()
        if cfg.expectations:
            try:
                raw = run_expectations(df, list(cfg.expectations), f"{self.model_name}_training_data")
            except BaseException:  # a failed attempt never leaves its MLflow run RUNNING
                client.set_terminated(run_id, status="FAILED")
                raise
            summary = summarize(raw)
        else:
            raw, summary = {}, {"success": True, "evaluated": 0, "failed": 0, "failures": []}
            self.log.warning(
                "Config %s has no expectations: only the built-in checks validate the training data", self.model_name
            )
        summary["checks"] = checks
        summary["success"] = bool(summary["success"]) and not checks["failed"]
        client.log_dict(run_id, {"summary": summary, "snapshot": snap.as_dict(), "gx_result": raw}, VALIDATION_ARTIFACT)
        for key, value in (
            ("data_sha256", snap.sha256),
            ("data_snapshot", snap.uri),
            ("data_rows", str(snap.rows)),
            ("data_source", snap.source),
            ("data_window", json.dumps({"start": snap.window_start, "end": snap.window_end})),
            ("data_validation", "passed" if summary["success"] else "failed"),
        ):
            client.set_tag(run_id, f"mlops.{key}", value)
        if not summary["success"]:
            where = f"MLflow run {run_id}, artifact {VALIDATION_ARTIFACT}"
            client.set_terminated(run_id, status="FAILED")
            raise DataValidationFailed(failure_message(self.model_name, summary, snap.rows, where))
        self.log.info(
            "Data validation passed: %d built-in checks and %d expectations on %s rows",
            checks["evaluated"],
            summary["evaluated"],
            f"{snap.rows:,}",
        )
        return {
            "mlflow_run_id": run_id,
            "snapshot_uri": snap.uri,
            "data_sha256": snap.sha256,
            "rows": snap.rows,
            "source": snap.source,
            "window_start": snap.window_start,
            "window_end": snap.window_end,
            "validation": summary,
        }
