"""Train the config's scikit-learn pipeline on the validated snapshot, tracked in MLflow."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from mlops_provider.naming import HOLDOUT_ARTIFACT
from mlops_provider.operators.base import MlopsBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

DATASET_DIGEST_CHARS = 16  # MLflow keeps a dataset digest of at most 36 characters


class TrainModelOperator(MlopsBaseOperator):
    """Fit preprocessing + estimator with the config's seed and log everything to the MLflow run.

    :param dataset: the output of :class:`ValidateDataOperator` (templated; an ``XComArg`` in factories):
        needs ``mlflow_run_id``, ``snapshot_uri`` and ``data_sha256``.
    The kind of target (``binary``, ``multiclass`` or ``regression``) is decided from the labels and recorded
    (MLflow tags ``mlops.target_kind``, ``mlops.classes``, ``mlops.positive_class``). The positive class of a
    binary target is ``data.positive_class``, else inferred (the yes-like label, else the minority class) and
    logged; it is stored on the fitted pipeline so gates, scoring and drift use the same one. Metrics that
    cannot be computed are absent from ``metrics`` and listed with the reason in ``unavailable_metrics``
    (never NaN). A failed attempt marks its MLflow run FAILED.

    :return: ``{"mlflow_run_id", "model_uri", "model_id", "metrics", "unavailable_metrics", "primary_metric",
        "target_kind", "classes", "positive_class", "snapshot_uri", "data_sha256", "rows", "train_rows",
        "holdout_rows", "holdout_artifact", "fit_seconds", "seed"}``
    """

    template_fields: Sequence[str] = ("dataset",)
    ui_color = "#d4edda"

    def __init__(self, *, dataset: Mapping[str, Any] | Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset

    def execute(self, context: Context) -> dict[str, Any]:
        run_id = dict(self.dataset)["mlflow_run_id"]
        try:
            return self._train(run_id)
        except BaseException:
            # a failed attempt never leaves its MLflow run RUNNING (a retry resumes the same run)
            try:
                self.mlflow_hook.get_conn().set_terminated(run_id, status="FAILED")
            except Exception as exc:  # pragma: no cover - the original error matters more
                self.log.warning("Could not mark MLflow run %s FAILED: %s", run_id, exc)
            raise

    def _train(self, run_id: str) -> dict[str, Any]:
        import io

        import mlflow
        from mlflow.models import infer_signature

        from mlops_provider.datasets import read_snapshot
        from mlops_provider.lineage import model_requirements
        from mlops_provider.modeling import (
            LabelError,
            attach_labels,
            build_pipeline,
            evaluation,
            features_frame,
            resolve_labels,
            split,
            trusted_types,
        )

        cfg = self.pipeline
        ds = dict(self.dataset)
        df = read_snapshot(ds["snapshot_uri"], ds["data_sha256"], self.storage)
        try:
            labels = resolve_labels(df[cfg.data.target], cfg)
        except LabelError as exc:
            raise AirflowFailException(f"{cfg.model}: {exc}") from None  # the data or config must change first
        if labels.kind != "regression":
            self.log.info("Target %r: %s", cfg.data.target, labels.describe())
        train_df, holdout = split(df, cfg)
        pipe = build_pipeline(cfg, self.allowed_estimator_modules())
        X_train = features_frame(train_df, cfg)
        y_train = train_df[cfg.data.target]
        started = time.perf_counter()
        pipe.fit(X_train, y_train)
        fit_seconds = time.perf_counter() - started
        attach_labels(pipe, labels)
        metrics, unavailable = evaluation(pipe, holdout, cfg, labels)
        self.log.info(
            "Trained %s on %s rows in %.1f s; holdout %s",
            cfg.training.estimator.class_,
            f"{len(train_df):,}",
            fit_seconds,
            ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()),
        )
        for name, reason in unavailable.items():
            self.log.warning("Holdout %s not available: %s", name, reason)
        with self.mlflow_run(run_id):
            mlflow.log_params(
                {
                    "estimator": cfg.training.estimator.class_,
                    **{f"estimator.{k}": v for k, v in sorted(cfg.training.estimator.params.items())},
                    "seed": cfg.training.seed,
                    "test_size": cfg.training.test_size,
                    "features.numeric": ",".join(cfg.data.features.numeric),
                    "features.categorical": ",".join(cfg.data.features.categorical),
                    "target": cfg.data.target,
                    "window_days": cfg.data.window_days,
                }
            )
            mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items()})
            mlflow.set_tags(
                {
                    "mlops.target_kind": labels.kind,
                    **({"mlops.classes": json.dumps(list(labels.classes))} if labels.classes else {}),
                    **({"mlops.positive_class": str(labels.positive)} if labels.positive is not None else {}),
                }
            )
            if unavailable:
                mlflow.log_dict(unavailable, "metrics_unavailable.json")
            mlflow.log_metrics({"fit_seconds": fit_seconds, "train_rows": len(train_df), "holdout_rows": len(holdout)})
            dataset = mlflow.data.from_pandas(
                df,
                source=ds["snapshot_uri"],
                targets=cfg.data.target,
                name=f"{cfg.model}-{ds['data_sha256'][:12]}",
                # the snapshot's content hash, already computed: the dataset's digest in MLflow matches lineage
                digest=ds["data_sha256"][:DATASET_DIGEST_CHARS],
            )
            mlflow.log_input(dataset, context="training")
            example = X_train.head(5)
            signature = infer_signature(example, pipe.predict(example))
            info = mlflow.sklearn.log_model(
                pipe,
                name="model",
                signature=signature,
                input_example=example,
                skops_trusted_types=trusted_types(pipe, self.allowed_estimator_modules()),
                pip_requirements=model_requirements(),
            )
            buf = io.BytesIO()
            holdout.to_parquet(buf, index=False)
            _log_bytes(run_id, HOLDOUT_ARTIFACT, buf.getvalue(), self.mlflow_hook)
        return {
            "mlflow_run_id": run_id,
            "model_uri": info.model_uri,
            "model_id": getattr(info, "model_id", None),
            "metrics": metrics,
            "unavailable_metrics": unavailable,
            "primary_metric": cfg.primary_metric,
            "target_kind": labels.kind,
            "classes": list(labels.classes),
            "positive_class": labels.positive,
            "snapshot_uri": ds["snapshot_uri"],
            "data_sha256": ds["data_sha256"],
            "rows": len(df),
            "train_rows": len(train_df),
            "holdout_rows": len(holdout),
            "holdout_artifact": HOLDOUT_ARTIFACT,
            "fit_seconds": round(fit_seconds, 3),
            "seed": cfg.training.seed,
        }


def _log_bytes(run_id: str, artifact_path: str, data: bytes, hook: Any) -> None:
    import tempfile
    from pathlib import Path

    folder, _, name = artifact_path.rpartition("/")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        hook.get_conn().log_artifact(run_id, str(path), folder or None)
