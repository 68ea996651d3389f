"""Batch scoring with the champion, writing a prediction log tagged with the model version.

Before a batch is scored its features are checked against what the champion was trained on
(``scoring.input_checks``): values of a categorical feature its fitted one-hot encoder never saw, and text
that is not a number in a numeric feature. Both would otherwise be scored silently (ignored category,
imputed value). The counts go into the task log, the return value and the prediction log; above a bound
the batch is scored with a warning, or the task fails before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from mlops_provider.operators.base import MlopsBaseOperator
from mlops_provider.predictions import (
    ERROR_COLUMN,
    ISSUES_COLUMN,
    RESERVED_COLUMNS,
    ROUTE_COLUMN,
    SERVED_COLUMN,
    input_checks_uri,
    prediction_log_uri,
    serving_uri,
    shadow_log_uri,
)
from mlops_provider.trials import ROUTE_CANARY, ROUTE_CHAMPION, ROUTE_SHADOW, baseline_ms, to_canary, warm_up

if TYPE_CHECKING:
    import pandas as pd
    from airflow.sdk import Context

    from mlops_provider.config import PipelineConfig

EXAMPLES = 5

CHECKS = {
    "unseen_categories": "unseen categories",
    "non_numeric": "non-numeric values",
}


class NoChampion(AirflowFailException):
    """There is no champion to score with: train (and pass the gates) first."""


class BatchSchemaError(AirflowFailException):
    """The batch (or the config) lacks what scoring needs; a retry cannot fix it."""


class InputCheckFailed(AirflowFailException):
    """The batch breaks ``scoring.input_checks`` with severity fail; nothing was written to the prediction log."""


# -- input checks -------------------------------------------------------------------------------------


def trained_categories(model: Any) -> dict[str, Any]:
    """The categories the fitted pipeline's encoders know, per input column (``categories_`` of a
    ``OneHotEncoder``/``OrdinalEncoder`` inside a ``ColumnTransformer``, see ``modeling.build_pipeline``).
    Columns without a fitted encoder are absent."""
    found: dict[str, Any] = {}
    for step in getattr(model, "named_steps", {}).values():
        for _name, transformer, columns in getattr(step, "transformers_", ()):
            encoder = transformer if hasattr(transformer, "categories_") else None
            for inner in getattr(transformer, "named_steps", {}).values():
                if hasattr(inner, "categories_"):
                    encoder = inner
            if encoder is None or isinstance(columns, str):
                continue
            columns = list(columns)
            if len(columns) == len(encoder.categories_):
                found.update({str(c): cats for c, cats in zip(columns, encoder.categories_, strict=True)})
    return found


def _examples(values: pd.Series) -> list[str]:
    """The most frequent offending values, as text (at most EXAMPLES, each at most 60 characters)."""
    return [str(v)[:60] for v in values.value_counts(dropna=True).index[:EXAMPLES]]


def input_issue_masks(
    df: pd.DataFrame, features: pd.DataFrame, config: PipelineConfig, known: dict[str, Any]
) -> tuple[dict[str, dict[str, pd.Series]], list[str]]:
    """Per check, per column: which rows hold an offending value; and the categorical columns that could not
    be checked (the champion has no fitted encoder for them). ``features`` is ``features_frame(df)``: the
    values exactly as the model gets them."""
    import pandas as pd
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    masks: dict[str, dict[str, pd.Series]] = {"unseen_categories": {}, "non_numeric": {}}
    unchecked = []
    for col in config.data.features.categorical:
        if col not in known:
            unchecked.append(col)
            continue
        values = features[col]
        masks["unseen_categories"][col] = values.notna() & ~values.isin(list(known[col]))
    for col in config.data.features.numeric:
        raw = df[col]
        if is_numeric_dtype(raw) or is_bool_dtype(raw):
            continue
        present = raw.notna() & raw.astype(str).str.strip().ne("")
        masks["non_numeric"][col] = present & pd.to_numeric(raw, errors="coerce").isna()
    return masks, unchecked


def summarize_input_checks(
    df: pd.DataFrame,
    features: pd.DataFrame,
    masks: dict[str, dict[str, pd.Series]],
    unchecked: list[str],
    config: PipelineConfig,
) -> dict[str, Any]:
    """JSON-ready summary: per check its bound, and per column with at least one offending value its count,
    rate (of the batch's rows), examples and whether the bound is broken."""
    rows = len(df)
    checks = config.scoring.input_checks
    summary: dict[str, Any] = {"rows": rows, "breaches": []}
    for check in CHECKS:
        bound = getattr(checks, check)
        columns: dict[str, Any] = {}
        for col, mask in masks[check].items():
            count = int(mask.sum())
            if not count:
                continue
            rate = count / rows
            shown = features[col] if check == "unseen_categories" else df[col]
            breached = rate > bound.max_rate
            columns[col] = {"count": count, "rate": rate, "examples": _examples(shown[mask]), "breached": breached}
            if breached:
                summary["breaches"].append(f"{check}.{col}")
        summary[check] = {
            "max_rate": bound.max_rate,
            "severity": bound.severity,
            "columns_checked": len(masks[check]) if check == "unseen_categories" else len(config.data.features.numeric),
            "columns": columns,
        }
    summary["unseen_categories"]["not_checked"] = unchecked
    return summary


def _describe(check: str, col: str, info: dict[str, Any], rows: int, bound: Any, known: dict[str, Any]) -> str:
    examples = ", ".join(repr(e) for e in info["examples"])
    text = f"{info['count']:,} of {rows:,} rows ({info['rate']:.1%}) in column {col!r} hold {CHECKS[check]}"
    if check == "unseen_categories":
        trained = [str(c) for c in known.get(col, ()) if str(c) != "__missing__"]
        more = f", ... ({len(trained)} in all)" if len(trained) > 10 else ""
        text += f" (never seen in training; the champion knows {', '.join(map(repr, trained[:10]))}{more})"
    else:
        text += " (text that is not a number; the model would impute it as missing)"
    relation = "above" if info["breached"] else "within"
    return f"{text}, e.g. {examples}; {relation} max_rate {bound.max_rate:.1%}"


class ScoreBatchOperator(MlopsBaseOperator):
    """Score one batch of current data with ``models:/<model>@champion`` and write the prediction log.

    The log is one parquet file per date, ``<prediction_log>/scoring_date=<ds>/predictions.parquet``
    (``pandas.read_parquet(<prediction_log>)`` reads every date, with ``scoring_date`` as a column), with
    the columns entity_key, prediction (the predicted class, or value for regression), score (binary:
    positive-class probability; multiclass: probability of the predicted class; empty for regression and
    for classifiers without ``predict_proba``), model_version, latency_ms (batch predict time spread over
    its rows) and scored_at; for classifiers with ``predict_proba`` also probability (of the predicted
    class) and ``proba.<class>`` for each class; the time column when the config has one; every feature
    under ``feature.<column>`` (what drift checks compare: categorical values as served, numeric values as
    the model got them, so text that is not a number is empty); and input_issues (how many of the row's
    features held an unseen category or non-numeric text).

    Next to it, ``_input_checks.json`` holds the batch's input-check summary (the ``input_checks`` of the
    return value). Both files are written only when the batch is scored; re-running a date overwrites them
    (idempotent), and a batch that fails its input checks writes nothing.

    :param source: the current data to score (templated, e.g. ``churn/current/{{ ds }}.parquet``).
    :param prediction_log: root of the prediction log (templated).
    :return: ``{"rows", "model_version", "uri", "date", "source", "input_checks", "input_checks_uri"}``; the
        same goes into the extra of the ``mlops://<model>/predictions`` Asset event when the task has that
        outlet.
    """

    template_fields: Sequence[str] = ("source", "prediction_log")
    ui_color = "#e2e3f5"

    def __init__(self, *, source: str, prediction_log: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.prediction_log = prediction_log

    def execute(self, context: Context) -> dict[str, Any]:
        import json
        import time

        import mlflow
        import pandas as pd

        from mlops_provider.datasets import read_table, resolve_source, to_parquet_bytes
        from mlops_provider.modeling import features_frame, predict, prediction_columns
        from mlops_provider.paths import DataRoots

        cfg = self.pipeline
        ds = context["ds"]
        time_column = cfg.data.time_column
        if time_column in RESERVED_COLUMNS:
            raise BatchSchemaError(
                f"data.time_column {time_column!r} has the name of a prediction log column "
                f"({', '.join(RESERVED_COLUMNS)}), so the log could not hold both; rename the column in the "
                "data and in data.time_column"
            )
        version = self.mlflow_hook.registry.champion(self.model_name)
        if version is None:
            raise NoChampion(
                f"{self.model_name} has no champion yet, so there is nothing to score with; run "
                f"{cfg.dag_id('training')} until a version passes its gates"
            )
        model = mlflow.sklearn.load_model(f"models:/{self.model_name}/{version}")
        roots = DataRoots.from_settings()  # the rendered paths must stay inside the data roots (not retried)
        source = resolve_source(self.source, roots, "scoring.source")
        df, _ = read_table(
            source,
            cfg.scoring.format,
            self.storage,
            roots=roots,
            field="scoring.source",
            what=f"scoring batch for {ds}",
        )
        missing = [c for c in cfg.data.features.all if c not in df.columns]
        if missing:
            raise BatchSchemaError(
                f"scoring batch {source} for {ds} lacks feature column(s) {', '.join(missing)} that the champion "
                f"v{version} needs (data.features); present: {', '.join(map(str, df.columns))}. Fix the batch "
                "(or scoring.source) so it has every feature column, then re-run the task"
            )
        X = features_frame(df, cfg)
        known = trained_categories(model)
        masks, unchecked = input_issue_masks(df, X, cfg, known)
        checks = self._check_inputs(df, X, masks, unchecked, known, source, ds, version)

        warm_up(model, X, cfg.task)  # the log's latency is the model's, as a trial version's is
        started = time.perf_counter()
        served = pd.DataFrame(prediction_columns(predict(model, X, cfg.task), cfg.task), index=X.index)
        elapsed_ms = (time.perf_counter() - started) * 1000
        key = cfg.data.entity_key
        keys = df[key].astype(str).to_numpy() if key else df.index.astype(str).to_numpy()
        rows = max(len(df), 1)
        meta = pd.DataFrame(
            {
                "model_version": int(version),
                "latency_ms": elapsed_ms / rows,
                ROUTE_COLUMN: ROUTE_CHAMPION,
                SERVED_COLUMN: True,
                ERROR_COLUMN: "",
            },
            index=X.index,
        )
        trial = self._trial(version)
        serving: dict[str, Any] = {"champion": {"version": int(version), "rows": len(df), "ms": elapsed_ms}}
        shadow = None
        if trial is not None:
            strategy, trial_version, trial_model = trial
            if strategy == "canary":
                mask = to_canary(self.model_name, keys, cfg.deploy.canary.fraction)
                routed = X.index[mask]
            else:
                routed = X.index
            frame, errors, trial_ms = self._score_trial(trial_model, X.loc[routed], cfg.task)
            failed = sum(1 for e in errors if e)
            # the champion on the rows the trial scored, timed the same way: what the trial's latency gate shows
            # beside the trial (its own whole batch would spread its fixed per-call cost over more rows)
            scored_rows = routed[[not e for e in errors]]
            serving["trial"] = {
                "strategy": strategy,
                "version": int(trial_version),
                "rows": len(routed),
                "errors": failed,
                "ms": trial_ms,
                "champion_ms_per_row": baseline_ms(model, X.loc[scored_rows], cfg.task),
            }
            self.log.info(
                "%s trial: v%s scored %s of %s rows in %.0f ms (%s failed)",
                strategy,
                trial_version,
                f"{len(routed) - failed:,}",
                f"{len(df):,}",
                trial_ms,
                f"{failed:,}",
            )
            if strategy == "canary":  # the canary serves the rows it scored; the champion serves the rest
                ok = routed[[not e for e in errors]]
                for name in frame.columns:
                    if name not in served.columns:
                        served[name] = float("nan")
                    served.loc[ok, name] = frame.loc[ok, name]
                for name in served.columns.difference(frame.columns):  # what the canary does not produce
                    served.loc[ok, name] = float("nan")
                meta.loc[routed, ROUTE_COLUMN] = ROUTE_CANARY
                meta.loc[routed, ERROR_COLUMN] = errors
                meta.loc[ok, "model_version"] = int(trial_version)
                meta.loc[ok, "latency_ms"] = trial_ms / max(len(ok), 1)
            else:  # shadow: logged beside the served rows, never served
                shadow = (frame, errors, trial_version, trial_ms)

        log = self._log_frame(df, X, keys, served, meta, masks)
        checks["rows_with_issues"] = int((log[ISSUES_COLUMN] > 0).sum())
        shadow_log = None
        if shadow is not None:
            frame, errors, trial_version, trial_ms = shadow
            shadow_meta = meta.assign(
                model_version=int(trial_version),
                latency_ms=trial_ms / max(sum(1 for e in errors if not e), 1),
                **{ROUTE_COLUMN: ROUTE_SHADOW, SERVED_COLUMN: False, ERROR_COLUMN: errors},
            )
            shadow_log = self._log_frame(df, X, keys, frame, shadow_meta, masks)

        uri = resolve_source(prediction_log_uri(self.prediction_log, ds), roots, "scoring.output")
        checks_uri = resolve_source(input_checks_uri(self.prediction_log, ds), roots, "scoring.output")
        summary = {"date": ds, "source": source, "model_version": int(version), **checks}
        scored_at = datetime.now(UTC).isoformat()
        serving = {"date": ds, "scored_at": scored_at, **serving}
        # The input-check summary first, then the log: readers look for the log, so they never see a log without
        # its summary. The serving summary last: a trial's window counts a date once it is there, log included.
        self.storage.write_bytes(checks_uri, json.dumps(summary, indent=2, sort_keys=True).encode())
        shadow_uri = resolve_source(shadow_log_uri(self.prediction_log, ds), roots, "scoring.output")
        if shadow_log is not None:
            self.storage.write_bytes(shadow_uri, to_parquet_bytes(shadow_log))
        elif self.storage.exists(shadow_uri):  # the date scored again without a shadow: no stale shadow rows
            self.storage.delete(shadow_uri)
        self.storage.write_bytes(uri, to_parquet_bytes(log))
        self.storage.write_bytes(
            resolve_source(serving_uri(self.prediction_log, ds), roots, "scoring.output"),
            json.dumps(serving, indent=2, sort_keys=True).encode(),
        )
        result: dict[str, Any] = {
            "rows": len(log),
            "model_version": version,
            "uri": uri,
            "date": ds,
            "source": source,
            "input_checks": checks,
            "input_checks_uri": checks_uri,
            "trial": serving.get("trial"),
        }
        self.log.info(
            "Scored %s rows of %s with %s v%s in %.0f ms; prediction log %s",
            f"{len(log):,}",
            source,
            self.model_name,
            version,
            elapsed_ms,
            uri,
        )
        for outlet in self.outlets or []:
            context["outlet_events"][outlet].extra = result
        return result

    def _trial(self, champion: str) -> tuple[str, str, Any] | None:
        """(strategy, version, loaded model or the load error) of the version on trial beside ``champion``, if
        the config's strategy has one. A trial version that cannot be loaded still takes its rows: each is
        logged with the load error and served by the champion, so the trial fails its error gate."""
        import mlflow

        strategy = self.pipeline.deploy.strategy
        if strategy == "direct":
            return None
        trial_version = self.mlflow_hook.registry.trial(self.model_name, strategy)
        if trial_version is None or trial_version == champion:
            return None
        try:
            model: Any = mlflow.sklearn.load_model(f"models:/{self.model_name}/{trial_version}")
        except Exception as exc:  # the trial's error gate reports it; serving goes on with the champion
            self.log.warning("Cannot load %s v%s on %s trial: %s", self.model_name, trial_version, strategy, exc)
            model = exc
        return strategy, trial_version, model

    @staticmethod
    def _score_trial(model: Any, X: pd.DataFrame, task: str) -> tuple[pd.DataFrame, list[str], float]:
        from mlops_provider.trials import guarded_predict

        if isinstance(model, Exception):
            error = f"cannot load the model: {type(model).__name__}: {model}"[:200]
            return X.iloc[:, :0].copy(), [error] * len(X), 0.0
        return guarded_predict(model, X, task)

    def _log_frame(
        self,
        df: pd.DataFrame,
        X: pd.DataFrame,
        keys: Any,
        predictions: pd.DataFrame,
        meta: pd.DataFrame,
        masks: dict[str, dict[str, pd.Series]],
    ) -> pd.DataFrame:
        """One prediction log frame: keys, predictions, who produced them, the features as served."""
        import pandas as pd

        cfg = self.pipeline
        predictions = predictions.reindex(
            columns=["prediction", "score", *predictions.columns.drop(["prediction", "score"], errors="ignore")]
        )
        log = pd.DataFrame(
            {
                "entity_key": keys,
                "prediction": predictions["prediction"].to_numpy(),
                "score": predictions["score"].to_numpy(dtype="float64"),
                "model_version": meta["model_version"].to_numpy(dtype="int64"),
                "latency_ms": meta["latency_ms"].to_numpy(dtype="float64"),
                "scored_at": datetime.now(UTC),
                ROUTE_COLUMN: meta[ROUTE_COLUMN].to_numpy(dtype=object),
                SERVED_COLUMN: meta[SERVED_COLUMN].to_numpy(dtype=bool),
                ERROR_COLUMN: meta[ERROR_COLUMN].to_numpy(dtype=object),
            }
        )
        for name in predictions.columns.drop(["prediction", "score"]):  # probability, proba.<class>
            log[name] = predictions[name].to_numpy()
        time_column = cfg.data.time_column
        if time_column and time_column in df.columns:
            log[time_column] = df[time_column].to_numpy()
        for col in cfg.data.features.categorical:  # the inputs as served: what drift checks compare
            log[f"feature.{col}"] = df[col].to_numpy()
        for col in cfg.data.features.numeric:  # as the model got them: numbers (one type on every date)
            log[f"feature.{col}"] = X[col].to_numpy()
        issues = [m.to_numpy(dtype="int16") for check in masks.values() for m in check.values()]
        log[ISSUES_COLUMN] = sum(issues) if issues else 0
        log[ISSUES_COLUMN] = log[ISSUES_COLUMN].astype("int16")
        return log

    def _check_inputs(
        self,
        df: pd.DataFrame,
        features: pd.DataFrame,
        masks: dict[str, dict[str, pd.Series]],
        unchecked: list[str],
        known: dict[str, Any],
        source: str,
        ds: str,
        version: str,
    ) -> dict[str, Any]:
        """Log one line per column with offending values; raise :class:`InputCheckFailed` when a bound with
        severity fail is broken. Returns the summary."""
        cfg = self.pipeline
        summary = summarize_input_checks(df, features, masks, unchecked, cfg)
        rows = summary["rows"]
        if unchecked:
            self.log.warning(
                "Unseen categories not checked in %s: the champion v%s has no fitted encoder for them",
                ", ".join(unchecked),
                version,
            )
        failed = []
        for check in CHECKS:
            bound = getattr(cfg.scoring.input_checks, check)
            for col, info in summary[check]["columns"].items():
                line = _describe(check, col, info, rows, bound, known)
                if info["breached"]:
                    self.log.warning("Input check %s: %s (severity %s)", check, line, bound.severity)
                    if bound.severity == "fail":
                        failed.append((check, line))
                else:
                    self.log.info("Input check %s: %s", check, line)
        if not any(summary[c]["columns"] for c in CHECKS):
            self.log.info(
                "Input checks: no unseen categories in %d categorical and no non-numeric text in %d numeric "
                "feature(s) of %s rows",
                summary["unseen_categories"]["columns_checked"],
                summary["non_numeric"]["columns_checked"],
                f"{rows:,}",
            )
        if failed:
            names = sorted({check for check, _ in failed})
            raise InputCheckFailed(
                f"scoring batch {source} for {ds} breaks scoring.input_checks (severity fail): "
                + "; ".join(line for _, line in failed)
                + f". Nothing was written to the prediction log for {ds}. Fix the values at the source of the "
                "batch (or map them upstream) and re-run this task; if they are legitimate new categories, "
                "retrain so the champion learns them; to score such batches anyway, raise "
                + " / ".join(f"scoring.input_checks.{n}.max_rate" for n in names)
                + " or set its severity to warn"
            )
        return summary
