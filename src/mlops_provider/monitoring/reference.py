"""What a drift check compares against, read from the registry: the champion, the snapshot it was trained on,
its scores on its own holdout, and the training runs the brakes look at."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_provider.monitoring import DriftInputError

if TYPE_CHECKING:
    import pandas as pd

    from mlops_provider.config import PipelineConfig
    from mlops_provider.hooks.mlflow import MlflowHook
    from mlops_provider.hooks.registry import ModelRegistry
    from mlops_provider.hooks.storage import Storage


def champion_version(registry: ModelRegistry, model: str) -> str:
    """The version behind ``model``'s champion alias.

    :raises DriftInputError: when the model has no champion yet.
    """
    version = registry.champion(model)
    if version is None:
        raise DriftInputError(f"{model} has no champion; there is no reference to check drift against yet")
    return version


def champion_snapshot(client: Any, model: str, version: str, storage: Storage) -> pd.DataFrame:
    """The champion's training snapshot, found through its lineage and hash-verified."""
    from mlops_provider import lineage
    from mlops_provider.datasets import read_snapshot

    record = lineage.from_tags(client.get_model_version(model, version).tags or {})
    return read_snapshot(record["data_snapshot"], record["data_sha256"], storage)


def holdout_scores(
    client: Any, hook: MlflowHook, config: PipelineConfig, version: str
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The champion's predictions on its holdout, in the prediction log's columns (the prediction
    baseline), and which of those columns drift compares: (frame, numeric, categorical)."""
    import mlflow
    import pandas as pd

    from mlops_provider.modeling import drift_columns, features_frame, predict, prediction_columns

    mv = client.get_model_version(config.model, version)
    holdout = hook.load_holdout(mv.run_id)
    model = mlflow.sklearn.load_model(f"models:/{config.model}/{version}")
    p = predict(model, features_frame(holdout, config), config.task)
    numeric, categorical = drift_columns(p.labels, p.classes, p.proba is not None)
    return pd.DataFrame(prediction_columns(p, config.task)), numeric, categorical


def last_training(client: Any, experiment: str) -> tuple[datetime | None, list[Any]]:
    """When the newest training run of ``experiment`` started, and its recent runs (newest first)."""
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None, []
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=50)
    last = datetime.fromtimestamp(runs[0].info.start_time / 1000, tz=UTC) if runs else None
    return last, list(runs)
