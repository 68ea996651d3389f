"""Batch scoring with the champion, writing a prediction log tagged with the model version."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from mlops_provider.operators.base import MlopsBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

PREDICTION_COLUMNS = ("entity_key", "prediction", "score", "model_version", "latency_ms", "scored_at")


class NoChampion(AirflowFailException):
    """There is no champion to score with: train (and pass the gates) first."""


def prediction_log_uri(root: str, ds: str) -> str:
    from mlops_provider.hooks.storage import join

    return join(root, f"date={ds}", "predictions.parquet")


class ScoreBatchOperator(MlopsBaseOperator):
    """Score one batch of current data with ``models:/<model>@champion`` and write the prediction log.

    The log is one parquet file per date, ``<prediction_log>/date=<ds>/predictions.parquet``, with the columns
    entity_key, prediction (the predicted class, or value for regression), score (binary: positive-class
    probability; multiclass: probability of the predicted class; empty for regression and for classifiers
    without ``predict_proba``), model_version, latency_ms (batch predict time spread over its rows) and
    scored_at; for classifiers with ``predict_proba`` also probability (of the predicted class) and
    ``proba.<class>`` for each class; the time column when the config has one, and every feature as served
    under ``feature.<column>`` (what drift checks compare).
    Re-running a date overwrites that date's file (idempotent).

    :param source: the current data to score (templated, e.g. ``churn/current/{{ ds }}.parquet``).
    :param prediction_log: root of the prediction log (templated).
    :return: ``{"rows", "model_version", "uri", "date", "source"}``; the same goes into the extra of
        the ``mlops://<model>/predictions`` Asset event when the task has that outlet.
    """

    template_fields: Sequence[str] = ("source", "prediction_log")
    ui_color = "#e2e3f5"

    def __init__(self, *, source: str, prediction_log: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.prediction_log = prediction_log

    def execute(self, context: Context) -> dict[str, Any]:
        import time

        import mlflow
        import pandas as pd

        from mlops_provider.datasets import read_table, resolve_source, to_parquet_bytes
        from mlops_provider.modeling import features_frame, predict, prediction_columns
        from mlops_provider.paths import DataRoots

        cfg = self.pipeline
        version = self.mlflow_hook.registry.champion(self.model_name)
        if version is None:
            raise NoChampion(
                f"{self.model_name} has no champion yet, so there is nothing to score with; run "
                f"{cfg.dag_id('training')} until a version passes its gates"
            )
        model = mlflow.sklearn.load_model(f"models:/{self.model_name}/{version}")
        roots = DataRoots.from_settings()  # the rendered paths must stay inside the data roots (not retried)
        source = resolve_source(self.source, roots, "scoring.source")
        df, _ = read_table(source, cfg.scoring.format, self.storage, roots=roots, field="scoring.source")
        missing = [c for c in cfg.data.features.all if c not in df.columns]
        if missing:
            raise AirflowFailException(f"current data {source} lacks feature column(s) {', '.join(missing)}")
        started = time.perf_counter()
        p = predict(model, features_frame(df, cfg), cfg.task)
        elapsed_ms = (time.perf_counter() - started) * 1000
        key = cfg.data.entity_key
        columns = prediction_columns(p, cfg.task)
        log = pd.DataFrame(
            {
                "entity_key": df[key].astype(str).to_numpy() if key else df.index.astype(str).to_numpy(),
                "prediction": columns.pop("prediction"),
                "score": columns.pop("score"),
                "model_version": int(version),
                "latency_ms": elapsed_ms / max(len(df), 1),
                "scored_at": datetime.now(UTC),
            }
        )
        for name, values in columns.items():  # probability, proba.<class> (classifiers with predict_proba)
            log[name] = values
        if cfg.data.time_column and cfg.data.time_column in df.columns:
            log[cfg.data.time_column] = df[cfg.data.time_column].to_numpy()
        for col in cfg.data.features.all:  # the inputs as served: what drift checks compare
            log[f"feature.{col}"] = df[col].to_numpy()
        ds = context["ds"]
        uri = resolve_source(prediction_log_uri(self.prediction_log, ds), roots, "scoring.output")
        self.storage.write_bytes(uri, to_parquet_bytes(log))
        result = {"rows": len(log), "model_version": version, "uri": uri, "date": ds, "source": source}
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
