"""The lineage record: what a registered model version was made from, as MLflow model-version tags.

Tag names (all strings, prefix ``mlops.``):

=========================  ===================================================================
``mlops.data_sha256``      content hash of the training snapshot (see ``datasets.content_sha256``)
``mlops.data_rows``        rows in the snapshot
``mlops.data_snapshot``    URI of the immutable snapshot
``mlops.data_source``      where the data was read from (may have changed since)
``mlops.data_window``      first and last day of the training window
``mlops.config_sha256``    hash of the resolved config (defaults merged)
``mlops.config``           the resolved config as JSON (what a replay trains with), when it fits in a
                           tag; always also the run's artifact ``config/resolved_config.json``
``mlops.package_version``  version of airflow-provider-mlops
``mlops.git_commit``       commit of the dags folder, ``none`` when it is not a git checkout
``mlops.lock_sha256``      sha256 of the dependency lock file, ``none`` when not found
``mlops.env``              python and the versions of the packages that shape the model (JSON)
``mlops.seed``             the seed every random step got
``mlops.airflow_dag_id``   DAG that trained it
``mlops.airflow_run_id``   DAG run that trained it
``mlops.trigger``          what started that run (schedule, manual, asset event with its extra)
``mlops.gates``            gate results (JSON list)
``mlops.gates_champion``   the champion version the champion gate compared against (``none``: none)
``mlops.mlflow_run_id``    the MLflow run with params, metrics and artifacts
``mlops.metrics``          the holdout metrics (JSON)
=========================  ===================================================================
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from mlops_provider.naming import CONFIG_ARTIFACT, MAX_TAG_CHARS, TAG_PREFIX

#: Packages whose version can change a trained model's numbers.
MODEL_SHAPING_PACKAGES = ("numpy", "scipy", "scikit-learn", "pandas", "pyarrow")
REQUIRED_TAGS = (
    "data_sha256",
    "data_rows",
    "config_sha256",
    "package_version",
    "git_commit",
    "lock_sha256",
    "seed",
    "airflow_dag_id",
    "airflow_run_id",
    "gates",
)


def package_version() -> str:
    try:
        return metadata.version("airflow-provider-mlops")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def environment() -> dict[str, str]:
    env = {"python": platform.python_version()}
    for name in MODEL_SHAPING_PACKAGES:
        try:
            env[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            env[name] = "absent"
    return env


def model_requirements() -> list[str]:
    """Pinned requirements of a logged model: the model-shaping packages plus mlflow and skops.

    Given explicitly so MLflow does not infer them by loading the model in a subprocess (slow).
    """
    out = []
    for name in (*MODEL_SHAPING_PACKAGES, "mlflow", "skops"):
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return out


def git_commit(folder: Path) -> str:
    """HEAD of the git checkout holding ``folder`` (``+dirty`` when it has uncommitted changes)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "none"
    return f"{head}+dirty" if dirty else head


def file_sha256(path: Path | None) -> str:
    if path is None or not path.is_file():
        return "none"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def code_identity(config: Any) -> dict[str, str]:
    """What a model is trained with besides its data, as lineage records it: the resolved config's hash, this
    package's version, the dags folder's git commit and the dependency lock's hash. Two trainings with equal
    identities and equal snapshots make the same model."""
    from mlops_provider import settings
    from mlops_provider.config import config_sha256

    return {
        "config_sha256": config_sha256(config),
        "package_version": package_version(),
        "git_commit": git_commit(settings.dags_folder()),
        "lock_sha256": file_sha256(settings.lock_file()),
    }


def tags(record: dict[str, Any]) -> dict[str, str]:
    """Flatten a lineage record into MLflow tag strings."""
    out = {}
    for key, value in record.items():
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
        out[TAG_PREFIX + key] = text
    return out


def oversized(tag_values: dict[str, str]) -> list[str]:
    """Keys of the tags MLflow would refuse as too long (see ``naming.MAX_TAG_CHARS``)."""
    return [k for k, v in tag_values.items() if len(v) > MAX_TAG_CHARS]


def record(client: Any, mv: Any) -> dict[str, Any]:
    """The lineage record of model version ``mv``; the config comes from the run's artifact when it was too
    long for a tag (or ``None`` when neither exists: a version registered before configs were recorded)."""
    out = from_tags(dict(mv.tags or {}))
    run_id = str(out.get("mlflow_run_id") or getattr(mv, "run_id", "") or "")
    if isinstance(out.get("config"), dict) or not run_id:
        return out
    import tempfile

    from mlflow.exceptions import MlflowException

    try:
        with tempfile.TemporaryDirectory() as tmp:
            local = client.download_artifacts(run_id, CONFIG_ARTIFACT, tmp)
            out["config"] = json.loads(Path(local).read_text(encoding="utf-8"))
    except FileNotFoundError:  # no such artifact: the caller says what a missing config means for it
        pass
    except MlflowException as exc:  # a store that cannot answer is an error, not "no config recorded"
        if getattr(exc, "error_code", None) != "RESOURCE_DOES_NOT_EXIST":
            raise
    return out


def from_tags(version_tags: dict[str, str]) -> dict[str, Any]:
    """The lineage record back from a model version's tags (JSON values decoded)."""
    out: dict[str, Any] = {}
    for key, text in version_tags.items():
        if not key.startswith(TAG_PREFIX):
            continue
        name = key[len(TAG_PREFIX) :]
        try:
            value = json.loads(text) if text[:1] in "[{" else text
        except ValueError:
            value = text
        out[name] = value
    return out
