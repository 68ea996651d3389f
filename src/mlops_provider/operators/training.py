"""Train the config's scikit-learn pipeline on the validated snapshot, tracked in MLflow."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlops_provider.operators.base import MlopsBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

HOLDOUT_ARTIFACT = "holdout/holdout.parquet"
DATASET_DIGEST_CHARS = 16  # MLflow keeps a dataset digest of at most 36 characters


class TrainModelOperator(MlopsBaseOperator):
    """Fit preprocessing + estimator with the config's seed and log everything to the MLflow run.

    :param dataset: the output of :class:`ValidateDataOperator` (templated; an ``XComArg`` in factories):
        needs ``mlflow_run_id``, ``snapshot_uri`` and ``data_sha256``.
    :return: ``{"mlflow_run_id", "model_uri", "model_id", "metrics", "primary_metric", "snapshot_uri", "data_sha256",
        "rows", "train_rows", "holdout_rows", "holdout_artifact", "fit_seconds", "seed"}``
    """

    template_fields: Sequence[str] = ("dataset",)
    ui_color = "#d4edda"

    def __init__(self, *, dataset: Mapping[str, Any] | Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset

    def execute(self, context: Context) -> dict[str, Any]:
        import io

        import mlflow
        from mlflow.models import infer_signature

        from mlops_provider.datasets import read_snapshot
        from mlops_provider.lineage import model_requirements
        from mlops_provider.modeling import build_pipeline, evaluate, features_frame, split, trusted_types

        cfg = self.pipeline
        ds = dict(self.dataset)
        df = read_snapshot(ds["snapshot_uri"], ds["data_sha256"], self.storage)
        train_df, holdout = split(df, cfg)
        pipe = build_pipeline(cfg, self.allowed_estimator_modules())
        X_train = features_frame(train_df, cfg)
        y_train = train_df[cfg.data.target]
        started = time.perf_counter()
        pipe.fit(X_train, y_train)
        fit_seconds = time.perf_counter() - started
        metrics = evaluate(pipe, holdout, cfg)
        self.log.info(
            "Trained %s on %s rows in %.1f s; holdout %s",
            cfg.training.estimator.class_,
            f"{len(train_df):,}",
            fit_seconds,
            ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()),
        )
        run_id = ds["mlflow_run_id"]
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
            mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items() if v == v})
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
            "primary_metric": cfg.primary_metric,
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
