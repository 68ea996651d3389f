"""The helpers the two files in ``dags/`` call: build valid configs' DAGs, report broken configs."""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from mlops_provider.config import LoadResult, load_folder
from mlops_provider.config.loader import DEFAULTS_FILE
from mlops_provider.factories.drift import build_drift_dag
from mlops_provider.factories.retention import build_retention_dag
from mlops_provider.factories.rollback import build_rollback_dag
from mlops_provider.factories.scoring import build_scoring_dag
from mlops_provider.factories.training import build_training_dag

BUILDERS = {
    "training": build_training_dag,
    "scoring": build_scoring_dag,
    "drift": build_drift_dag,
    "rollback": build_rollback_dag,
    "retention": build_retention_dag,
}


class PipelineConfigErrors(Exception):
    """Raised by the error-reporting DAG file so Airflow lists broken configs as import errors."""


def _configs_dir(caller_file: str | Path, configs_dir: str | Path | None) -> Path:
    return Path(configs_dir) if configs_dir is not None else Path(caller_file).resolve().parent / "configs"


def _load(caller_file: str | Path, configs_dir: str | Path | None) -> LoadResult:
    from mlops_provider import settings

    return load_folder(
        _configs_dir(caller_file, configs_dir),
        allowed_estimator_modules=settings.allowed_estimator_modules(),
        allowed_data_roots=settings.allowed_data_roots(),
        cache_dir=settings.parse_cache_dir(),
    )


def load_dags(namespace: MutableMapping[str, Any], configs_dir: str | Path | None = None) -> list[str]:
    """Build every valid config's DAGs into ``namespace`` (the loader file's ``globals()``).

    Broken configs are skipped here and reported by :func:`raise_config_errors`, so one bad file never
    hides the other models' DAGs. Returns the DAG ids built.

    A worker that runs one task parses this file only to find that task's DAG; Airflow says which in its
    parsing context, and then only that DAG is built, however many configs the folder holds.
    """
    from airflow.sdk import get_parsing_context

    wanted = get_parsing_context().dag_id
    result = _load(namespace["__file__"], configs_dir)
    built = []
    for source, config in result.configs.items():
        for kind, build in BUILDERS.items():
            if wanted is not None and config.dag_id(kind) != wanted:
                continue
            dag = build(config, source=source)
            if dag is not None:
                namespace[dag.dag_id] = dag
                built.append(dag.dag_id)
    return built


def raise_config_errors(caller_file: str | Path, configs_dir: str | Path | None = None) -> None:
    """Raise one exception naming every broken config file (Airflow shows it as an import error)."""
    result = _load(caller_file, configs_dir)
    if result.errors:
        n = len(result.errors)
        text = "\n\n".join(str(e) for e in result.errors)
        if any(Path(e.file).name == DEFAULTS_FILE for e in result.errors):
            effect = "defaults.yaml is merged beneath every config, so no model's DAGs were built"
        else:
            effect = "their DAGs were not built; every other config's DAGs loaded normally"
        raise PipelineConfigErrors(f"{n} broken pipeline config{'s' if n != 1 else ''} ({effect}):\n\n{text}")
