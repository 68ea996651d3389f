"""Train the config's scikit-learn pipeline on the validated snapshot, tracked in MLflow."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from mlops_provider.naming import HOLDOUT_ARTIFACT, RETRAIN_OUTCOME_TAG, UNAVAILABLE_METRICS_ARTIFACT
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

    A retrain started by the model's drift Asset whose snapshot, config and code equal the champion's would
    only register the champion again: it is skipped (nothing downstream runs), the run is tagged
    ``mlops.retrain_outcome=no_new_data``, the drift episode records it (the drift check then holds further
    retrains back) and a person is alerted, as when the circuit breaker opens.

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
            self.refuse_unchanged_retrain(context, run_id)
            return self._train(run_id)
        except AirflowSkipException:  # nothing to train: the run was ended KILLED on purpose
            raise
        except BaseException:
            # a failed attempt never leaves its MLflow run RUNNING (a retry resumes the same run)
            try:
                self.mlflow_hook.get_conn().set_terminated(run_id, status="FAILED")
            except Exception as exc:  # pragma: no cover - the original error matters more
                self.log.warning("Could not mark MLflow run %s FAILED: %s", run_id, exc)
            raise

    def refuse_unchanged_retrain(self, context: Context, run_id: str) -> None:
        """Skip a drift-triggered retrain that can only reproduce the champion (see the class docstring)."""
        from datetime import UTC, datetime

        from mlops_provider import lineage
        from mlops_provider.monitoring.brakes import with_no_new_data

        cfg = self.pipeline
        if not self.drift_triggered(context):
            return
        registry = self.mlflow_hook.registry
        champion = registry.champion(self.model_name)
        if champion is None:
            return
        client = self.mlflow_hook.get_conn()
        recorded = lineage.from_tags(dict(client.get_model_version(self.model_name, champion).tags or {}))
        sha = str(dict(self.dataset)["data_sha256"])
        now = {"data_sha256": sha, **lineage.code_identity(cfg)}
        changed = [k for k, v in now.items() if str(recorded.get(k)) != v]
        if changed:
            self.log.info("Drift-triggered retrain: %s changed since champion v%s", ", ".join(changed), champion)
            return
        message = (
            f"{self.model_name}: drift persists, but there are no new labeled rows since v{champion} (snapshot "
            f"{sha[:12]}…; config and code unchanged too): retraining cannot fix this, so nothing is trained or "
            f"registered. The retrain read the configured window ({cfg.data.window_days} days of "
            f"{cfg.data.source}) again and found the same rows. A person must act: land newer labeled data, "
            "change the config (features, window), or accept the drift (docs/runbooks/drift.md)"
        )
        episode = with_no_new_data(
            registry.drift_episode(self.model_name), champion, sha, datetime.now(UTC), context.get("run_id")
        )
        registry.set_drift_episode(self.model_name, episode)
        client.set_tag(run_id, RETRAIN_OUTCOME_TAG, "no_new_data")
        client.set_terminated(run_id, status="KILLED")
        from mlops_provider.notifications import catalogue

        self.announce(
            catalogue.no_new_data(
                model=self.model_name, champion=champion, snapshot=sha, message=message, link=self.run_link(context)
            )
        )
        raise AirflowSkipException(message)

    def _train(self, run_id: str) -> dict[str, Any]:
        import io

        import mlflow
        from mlflow.data.pandas_dataset import from_pandas
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
        from sklearn.utils._param_validation import InvalidParameterError

        from mlops_provider.modeling import EstimatorError

        try:
            pipe = build_pipeline(cfg, self.allowed_estimator_modules())
        except EstimatorError as exc:  # the config must change first: not retried
            raise AirflowFailException(f"{cfg.model}: {exc}. Check the config with: mlops validate") from None
        X_train = features_frame(train_df, cfg)
        y_train = train_df[cfg.data.target]
        started = time.perf_counter()
        try:
            pipe.fit(X_train, y_train)
        except InvalidParameterError as exc:
            raise AirflowFailException(
                f"{cfg.model}: training.estimator.params rejected by {cfg.training.estimator.class_}: {exc}. "
                "Fix the value in the config; mlops validate checks estimator params without training"
            ) from None
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
                mlflow.log_dict(unavailable, UNAVAILABLE_METRICS_ARTIFACT)
            mlflow.log_metrics({"fit_seconds": fit_seconds, "train_rows": len(train_df), "holdout_rows": len(holdout)})
            dataset = from_pandas(
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
