"""The parse cache: an unchanged config is not read again on the next parse, and nothing gets past the checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_provider.config import loader
from mlops_provider.config.loader import load_folder, resolved
from tests.unit.config.conftest import REPO, SHIPPED


def fresh_process() -> None:
    """What a new parse in a new process starts with: no in-process memo."""
    loader._CACHE.clear()
    loader._RESOLVED.clear()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The config files whose YAML the loader read (cache misses)."""
    seen: list[str] = []
    real = loader.read_yaml

    def counting(path: Path, raw: bytes | None = None) -> Any:
        if Path(path).name != "defaults.yaml":  # read on every load, as the key needs its bytes
            seen.append(Path(path).name)
        return real(path, raw)

    monkeypatch.setattr(loader, "read_yaml", counting)
    return seen


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    configs = tmp_path / "configs"
    configs.mkdir()
    for name in ("defaults.yaml", "churn.yaml", "churn_canary.yaml"):
        (configs / name).write_text((SHIPPED / name).read_text())
    return configs


def _load(folder: Path, cache: Path | None, **kwargs: Any) -> loader.LoadResult:
    fresh_process()
    return load_folder(folder, cache_dir=cache, **kwargs)


def _regression(model: str) -> dict[str, Any]:
    return {
        "model": model,
        "task": "regression",
        "data": {
            "source": f"{model}/labeled.parquet",
            "format": "parquet",
            "target": "y",
            "entity_key": "row_id",
            "features": {"numeric": [f"x{i}" for i in range(40)], "categorical": ["grp"]},
        },
        "training": {"estimator": {"class": "sklearn.linear_model.Ridge", "params": {"alpha": 0.5}}, "stratify": False},
        "scoring": {"source": f"{model}/current/{{{{ ds }}}}.parquet"},
        "gates": {"metrics": [{"metric": "r2", "min": 0.1}]},
    }


def test_an_unchanged_config_is_not_read_again_and_loads_the_same(folder: Path, tmp_path: Path, reads: list[str]):
    cache = tmp_path / "cache"
    (folder / "weather.yaml").write_text(yaml.safe_dump(_regression("weather")))
    cold = _load(folder, cache)
    assert not cold.errors and sorted(reads) == ["churn.yaml", "churn_canary.yaml", "weather.yaml"]
    cold_text = {f: resolved(c) for f, c in cold.configs.items()}
    reads.clear()

    warm = _load(folder, cache)
    assert reads == []  # every config came from the cache
    assert warm.configs == cold.configs  # equal, field for field, to what reading the files gave
    assert {f: resolved(c) for f, c in warm.configs.items()} == cold_text  # the docs' YAML and hash too
    assert len(list(cache.glob("*.json"))) == 3


def test_any_change_to_a_file_or_its_defaults_reads_the_file_again(folder: Path, tmp_path: Path, reads: list[str]):
    cache = tmp_path / "cache"
    _load(folder, cache)
    reads.clear()

    churn = folder / "churn.yaml"
    churn.write_text(churn.read_text().replace("seed: 42", "seed: 7"))
    result = _load(folder, cache)
    assert reads == ["churn.yaml"] and result.configs[str(churn)].training.seed == 7
    reads.clear()

    defaults = folder / "defaults.yaml"
    defaults.write_text(defaults.read_text().replace("owner: ml-platform", "owner: data-science"))
    result = _load(folder, cache)
    assert sorted(reads) == ["churn.yaml", "churn_canary.yaml"]
    assert {c.owner for c in result.configs.values()} == {"data-science"}


def test_a_config_valid_under_wider_data_roots_is_not_served_when_they_narrow(tmp_path: Path):
    configs = tmp_path / "configs"
    configs.mkdir()
    raw = _regression("weather")
    raw["data"]["source"] = "/mnt/shared/ml/weather.parquet"
    (configs / "weather.yaml").write_text(yaml.safe_dump(raw))
    cache = tmp_path / "cache"
    assert _load(configs, cache, allowed_data_roots=("/srv/data", "/mnt/shared/ml")).configs
    narrowed = _load(configs, cache, allowed_data_roots=("/srv/data",))
    assert not narrowed.configs
    assert "allowed_data_roots" in str(narrowed.errors[0])


def test_an_edited_entry_cannot_carry_a_config_past_the_checks(folder: Path, tmp_path: Path, reads: list[str]):
    cache = tmp_path / "cache"
    sources = {c.data.source for c in _load(folder, cache).configs.values()}
    reads.clear()
    for entry in cache.glob("*.json"):
        data = json.loads(entry.read_text())
        data["config"]["data"]["source"] = "/etc/shadow"  # outside every data root
        data["config"]["training"]["estimator"]["class"] = "os.system"
        entry.write_text(json.dumps(data))

    result = _load(folder, cache)
    assert not result.errors
    assert sorted(reads) == ["churn.yaml", "churn_canary.yaml"]  # the entries were refused, the files read
    assert {c.data.source for c in result.configs.values()} == sources != {"/etc/shadow"}

    for entry in cache.glob("*.json"):
        entry.write_text("{not json")
    reads.clear()
    assert len(_load(folder, cache).configs) == 2 and len(reads) == 2


def test_broken_configs_are_never_cached_and_keep_their_lines(folder: Path, tmp_path: Path, reads: list[str]):
    cache = tmp_path / "cache"
    churn = (folder / "churn.yaml").read_text()
    (folder / "fraud.yaml").write_text(churn.replace("model: churn", "model: fraud").replace("seed: 42", "seed: x"))
    (folder / "z_copy.yaml").write_text("# a copy\n" + churn)
    for _ in range(2):
        reads.clear()
        result = _load(folder, cache)
        assert "fraud.yaml" in reads
        by_file = {Path(e.file).name: e for e in result.errors}
        assert "field 'training.seed'" in str(by_file["fraud.yaml"])
        (problem,) = by_file["z_copy.yaml"].problems
        assert (problem.path, problem.line) == ("model", 3)  # from the entry on the second pass
    assert len(list(cache.glob("*.json"))) == 3  # churn, churn_canary and the copy: read fine, then refused


def test_an_unwritable_or_disabled_cache_only_means_reading_every_time(folder: Path, tmp_path: Path, reads: list[str]):
    blocked = tmp_path / "file-in-the-way"
    blocked.write_text("")
    for cache in (blocked / "cache", None):
        for _ in range(2):
            reads.clear()
            assert len(_load(folder, cache).configs) == 2 and len(reads) == 2


def test_the_dag_loader_keeps_its_cache_under_airflow_home_unless_turned_off(monkeypatch: pytest.MonkeyPatch):
    from mlops_provider import settings

    monkeypatch.setenv("AIRFLOW_HOME", "/opt/airflow")
    monkeypatch.delenv("AIRFLOW__MLOPS__PARSE_CACHE_DIR", raising=False)
    assert settings.parse_cache_dir() == Path("/opt/airflow/mlops_parse_cache")
    monkeypatch.setenv("AIRFLOW__MLOPS__PARSE_CACHE_DIR", "/var/cache/mlops")
    assert settings.parse_cache_dir() == Path("/var/cache/mlops")
    monkeypatch.setenv("AIRFLOW__MLOPS__PARSE_CACHE_DIR", "off")
    assert settings.parse_cache_dir() is None


def test_a_dag_file_parse_in_a_new_process_reads_no_yaml_after_the_first(tmp_path: Path):
    """Two parses of the shipped dags folder, each in its own interpreter as Airflow's dag-processor runs them: the
    second builds the same DAGs with the same docs without reading a config's YAML."""
    dags = tmp_path / "dags"
    (dags / "configs").mkdir(parents=True)
    for name in ("mlops_pipelines.py", "mlops_config_errors.py"):
        (dags / name).write_text((REPO / "dags" / name).read_text())
    for name in ("defaults.yaml", "churn.yaml", "churn_canary.yaml"):
        (dags / "configs" / name).write_text((SHIPPED / name).read_text())
    probe = (
        "import json, sys\n"
        "from mlops_provider.config import loader\n"
        "real = loader.read_yaml; n = []\n"
        "def counting(p, *a):\n"
        "    if p.name != 'defaults.yaml': n.append(1)\n"
        "    return real(p, *a)\n"
        "loader.read_yaml = counting\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "bag = DagBag(dag_folder=sys.argv[1])\n"
        "print(json.dumps({'reads': len(n), 'errors': len(bag.import_errors),\n"
        "                  'docs': {d.dag_id: d.doc_md for d in bag.dags.values()}}))\n"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "home"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    env.pop("AIRFLOW__MLOPS__PARSE_CACHE_DIR", None)

    def parse() -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-c", probe, str(dags)], env=env, capture_output=True, text=True, check=True
        )
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))

    first, second = parse(), parse()
    assert first["errors"] == second["errors"] == 0
    assert first["reads"] == 2 and second["reads"] == 0
    assert len(first["docs"]) == 10 and second["docs"] == first["docs"]
    assert len(list((tmp_path / "home" / "mlops_parse_cache").glob("*.json"))) == 2
