"""YAML reading, defaults.yaml merging, folder loading and the config hash."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from mlops_provider.config import ConfigError, config_files, config_sha256, load_config, load_folder
from mlops_provider.config.loader import deep_merge

DEFAULTS = textwrap.dedent(
    """\
    # folder defaults
    owner: ml-platform
    schedule:
      training: "@daily"
      catchup: true
    airflow:
      retries: 3
      tags: [team-a, nightly]
    """
)


def test_deep_merge_merges_mappings_and_replaces_everything_else():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1}
    override = {"a": {"y": [3]}, "c": None}
    assert deep_merge(base, override) == {"a": {"x": 1, "y": [3]}, "b": 1, "c": None}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 1}  # inputs are not modified


def test_defaults_merge_beneath_the_model_file(write, churn_text):
    write("defaults.yaml", DEFAULTS)
    path = write(
        "churn.yaml",
        churn_text + 'schedule:\n  training: "0 3 * * *"\nairflow:\n  tags: [churn]\n',
    )
    config = load_config(path)
    assert config.owner == "ml-platform"  # inherited
    assert config.schedule.training == "0 3 * * *"  # the model file wins
    assert config.schedule.catchup is True  # mappings merge key by key
    assert config.airflow.retries == 3
    assert config.airflow.tags == ["churn"]  # lists are replaced, not concatenated


def test_model_file_value_wins_over_defaults(write, churn_text):
    write("defaults.yaml", DEFAULTS)
    config = load_config(write("churn.yaml", churn_text + "owner: churn-team\n"))
    assert config.owner == "churn-team"


def test_error_in_inherited_value_names_defaults_yaml_and_its_line(write, churn_text):
    defaults = write("defaults.yaml", "owner: ml-platform\nairflow:\n  retries: 99\n")
    path = write("churn.yaml", churn_text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert info.value.file == str(path)
    assert problem.path == "airflow.retries"
    assert problem.source == str(defaults)
    assert problem.line == 3
    assert f"line 3 of {defaults}, field 'airflow.retries': got 99; must be >= 0 and <= 20" in str(info.value)


def test_model_file_overriding_a_bad_default_is_valid_and_own_errors_name_the_model_file(write, churn_text):
    write("defaults.yaml", "airflow:\n  retries: 99\n")
    assert load_config(write("ok.yaml", churn_text + "airflow:\n  retries: 2\n")).airflow.retries == 2

    write("defaults.yaml", "airflow:\n  retries: 2\n")
    bad = write("bad.yaml", churn_text + "airflow:\n  retries: 50\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    (problem,) = info.value.problems
    assert problem.source is None
    assert problem.line == len(churn_text.splitlines()) + 2


def test_every_problem_of_a_file_is_reported(write, churn_text):
    text = churn_text.replace("test_size: 0.2", "test_size: 2").replace("seed: 42", "seed: -5")
    with pytest.raises(ConfigError) as info:
        load_config(write("churn.yaml", text))
    assert [p.path for p in info.value.problems] == ["training.test_size", "training.seed"]
    assert "(2 problems)" in str(info.value)


def test_dates_are_read_by_the_schema_not_the_yaml_loader(write, churn_text):
    config = load_config(write("churn.yaml", churn_text + "schedule:\n  start_date: 2026-03-01\n"))
    assert config.schedule.start_date == date(2026, 3, 1)
    config = load_config(
        write(
            "churn.yaml",
            churn_text.replace(
                "description: Probability that a customer cancels within 30 days.", "description: 2026-03-01"
            ),
        )
    )
    assert config.description == "2026-03-01"


def test_anchors_and_merge_keys_still_work(write, churn_text):
    text = churn_text.replace(
        "    - {metric: roc_auc, min: 0.75}\n    - {metric: recall, min: 0.30, severity: warn}\n",
        "    - &auc {metric: roc_auc, min: 0.75, severity: warn}\n    - {<<: *auc, metric: recall, min: 0.3}\n",
    )
    config = load_config(write("churn.yaml", text))
    recall = config.gates.metrics[1]
    assert (recall.metric, recall.min, recall.severity) == ("recall", 0.3, "warn")


def test_load_folder_returns_good_configs_and_collects_errors(write, churn_text):
    write("defaults.yaml", DEFAULTS)
    good = write("churn.yaml", churn_text)
    bad = write("fraud.yaml", churn_text.replace("model: churn", "model: fraud").replace("seed: 42", "seed: x"))
    result = load_folder(good.parent)
    assert list(result.configs) == [str(good)]
    assert result.configs[str(good)].model == "churn"
    assert [e.file for e in result.errors] == [str(bad)]
    assert "field 'training.seed'" in str(result.errors[0])


def test_same_model_name_in_two_files_is_an_error_on_the_later_file(write, churn_text):
    first = write("a_churn.yaml", churn_text)
    second = write("b_churn.yaml", "# copy\n" + churn_text)
    result = load_folder(first.parent)
    assert list(result.configs) == [str(first)]
    (err,) = result.errors
    assert err.file == str(second)
    (problem,) = err.problems
    assert (problem.path, problem.line) == ("model", 3)
    assert f"model 'churn' is already defined in {first}" in str(err)


@pytest.mark.parametrize(
    ("defaults", "fragment"),
    [
        ("airflow: [retries\n", "not valid YAML"),
        ("- owner: x\n", "defaults.yaml must be a mapping"),
        ("owner: x\nowner: y\n", "key 'owner' appears twice"),
    ],
    ids=["syntax", "not-a-mapping", "duplicate-key"],
)
def test_broken_defaults_yaml_is_reported_against_defaults_yaml(write, churn_text, defaults, fragment):
    defaults_path = write("defaults.yaml", defaults)
    model = write("churn.yaml", churn_text)
    result = load_folder(model.parent)
    assert result.configs == {}
    (err,) = result.errors
    assert err.file == str(defaults_path)
    assert fragment in str(err)
    assert err.problems[0].line is not None
    with pytest.raises(ConfigError) as info:
        load_config(model)
    assert info.value.file == str(defaults_path)


def test_empty_defaults_yaml_is_fine(write, churn_text):
    write("defaults.yaml", "# nothing shared yet\n")
    assert load_config(write("churn.yaml", churn_text)).model == "churn"


def test_missing_file_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "nope.yaml")


def test_config_files_skips_defaults_hidden_and_other_files(write, churn_text):
    for name in ("b.yaml", "a.yml", "defaults.yaml", ".hidden.yaml", "notes.txt"):
        write(name, churn_text)
    folder = write("c.yaml", churn_text).parent
    assert [p.name for p in config_files(folder)] == ["a.yml", "b.yaml", "c.yaml"]
    assert config_files(folder / "missing") == []
    assert load_folder(folder / "missing").configs == {}


def test_config_sha256_is_stable_and_tracks_values(write, churn_text):
    digest = config_sha256(load_config(write("churn.yaml", churn_text)))
    assert len(digest) == 64
    assert config_sha256(load_config(write("churn.yaml", churn_text))) == digest
    # comments, layout and key order do not change the resolved config
    reordered = "# reformatted\ntask: classification\n" + churn_text.replace("task: classification\n", "")
    assert config_sha256(load_config(write("churn.yaml", reordered))) == digest
    changed = churn_text.replace("test_size: 0.2", "test_size: 0.25")
    assert config_sha256(load_config(write("churn.yaml", changed))) != digest


def test_config_sha256_covers_values_inherited_from_defaults(write, churn_text):
    write("defaults.yaml", "airflow:\n  retries: 1\n")
    path = write("churn.yaml", churn_text)
    digest = config_sha256(load_config(path))
    write("defaults.yaml", "airflow:\n  retries: 2\n")
    assert config_sha256(load_config(path)) != digest


# -- limits: file size, nesting, aliases ------------------------------------------------------------


def test_alias_bomb_is_rejected_quickly_at_the_alias_that_crosses_the_limit(write, churn_text):
    import time

    lines = ["x-lol:", "  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 12)]  # 10**12 values
    path = write("bomb.yaml", churn_text + "\n".join(lines) + "\n")
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert time.perf_counter() - started < 0.5
    (problem,) = info.value.problems
    first = len(churn_text.splitlines()) + 1
    assert problem.line == first + 4 and problem.path == "x-lol.a3[7]"  # the 8th alias of a3 crosses 10,000
    assert f"the alias *a2 repeats the 1,111 values of &a2 (line {first + 3})" in problem.message
    assert "write the values out, or move values several models share to defaults.yaml" in problem.message


def test_alias_inside_its_own_anchor_is_rejected(write, churn_text):
    text = churn_text.replace("params: {max_iter: 150,", "params: {loop: &me [1, *me], max_iter: 150,")
    with pytest.raises(ConfigError) as info:
        load_config(write("churn.yaml", text))
    (problem,) = info.value.problems
    assert problem.path == "training.estimator.params.loop[1]"
    assert "the alias *me is inside the value of its own anchor &me" in problem.message


def test_ordinary_anchors_aliases_and_merge_keys_of_a_big_real_config_pass(write, churn_text):
    shared = "  - expect_column_values_to_not_be_null: &nn {column: customer_id, mostly: 0.99}\n"
    shared += "".join(f"  - expect_column_values_to_not_be_null: {{<<: *nn, column: c{i}}}\n" for i in range(300))
    config = load_config(write("churn.yaml", churn_text.replace("expectations:\n", "expectations:\n" + shared, 1)))
    assert len(config.expectations) == 8 + 301
    assert config.expectations[300] == {"expect_column_values_to_not_be_null": {"column": "c299", "mostly": 0.99}}


def test_too_many_values_without_aliases_is_rejected(write, churn_text):
    big = (
        "  - expect_column_values_to_be_in_set: {column: plan, value_set: ["
        + ", ".join(str(i) for i in range(10_001))
        + "]}\n"
    )
    text = churn_text.replace("expectations:\n", "expectations:\n" + big, 1)
    with pytest.raises(ConfigError, match="the file holds more than 10,000 values"):
        load_config(write("churn.yaml", text))


def test_very_deep_nesting_is_a_config_error_not_a_recursion_error(write, churn_text):
    for depth in (65, 900, 5000):
        text = churn_text.replace("max_iter: 150,", "deep: " + "[" * depth + "]" * depth + ", max_iter: 150,")
        with pytest.raises(ConfigError) as info:
            load_config(write("churn.yaml", text))
        (problem,) = info.value.problems
        assert "nested more than 64 levels deep" in problem.message or "maximum nesting depth" in problem.message
    block = "".join("  " * i + f"k{i}:\n" for i in range(100)) + "  " * 100 + "x: 1\n"
    indented = "".join("  " + ln + "\n" for ln in block.splitlines())
    with pytest.raises(ConfigError) as info:
        load_config(write("churn.yaml", churn_text + "x-deep:\n" + indented))
    assert "nested more than 64 levels deep" in str(info.value)


def test_file_larger_than_1_mib_is_rejected_without_parsing(write, churn_text):
    path = write("churn.yaml", churn_text + "# " + "x" * (1024 * 1024) + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "the file is 1.0 MiB; a config may be at most 1024 KiB" in str(info.value)


def test_a_folder_named_like_a_config_is_not_read(tmp_path: Path):
    (tmp_path / "odd.yaml").mkdir()
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(tmp_path / "odd.yaml")


# -- config files that are symbolic links --------------------------------------------------------------

SECRET_LINES = "root:x:0:0:root:/root:/bin/bash\nsecret-token: hunter2-from-outside\n: [broken yaml\n"


@pytest.fixture()
def outside(tmp_path: Path) -> Path:
    target = tmp_path / "elsewhere" / "passwd"
    target.parent.mkdir()
    target.write_text(SECRET_LINES, encoding="utf-8")
    return target


def test_config_symlinked_out_of_the_folder_is_refused_without_showing_the_target(
    tmp_path: Path, outside: Path, churn_text: str
):
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "churn.yaml").write_text(churn_text, encoding="utf-8")
    (folder / "leak.yaml").symlink_to(outside)
    result = load_folder(folder)
    assert list(result.configs) == [str(folder / "churn.yaml")]  # the other config still loads
    (err,) = result.errors
    text = str(err)
    assert err.file == str(folder / "leak.yaml")
    assert f"is a symbolic link to {outside}, outside the configs folder" in text
    assert "copy the config into the folder instead of linking to it" in text
    for secret in ("root:x", "hunter2", "broken yaml", "line 3"):
        assert secret not in text
    with pytest.raises(ConfigError) as info:
        load_config(folder / "leak.yaml")
    assert "hunter2" not in str(info.value) and "symbolic link" in str(info.value)


def test_defaults_yaml_symlinked_out_of_the_folder_is_refused(tmp_path: Path, outside: Path, churn_text: str):
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "churn.yaml").write_text(churn_text, encoding="utf-8")
    (folder / "defaults.yaml").symlink_to(outside)
    result = load_folder(folder)
    (err,) = result.errors
    assert err.file == str(folder / "defaults.yaml") and "symbolic link" in str(err)
    assert "hunter2" not in str(err)


def test_symlink_inside_the_folder_is_followed(tmp_path: Path, churn_text: str):
    folder = tmp_path / "configs"
    (folder / "shared").mkdir(parents=True)
    (folder / "shared" / "churn-v2.yaml").write_text(churn_text, encoding="utf-8")
    (folder / "churn.yaml").symlink_to(folder / "shared" / "churn-v2.yaml")
    assert load_config(folder / "churn.yaml").model == "churn"
    linked = tmp_path / "linked-configs"
    linked.symlink_to(folder)  # a configs folder that is itself a link works as well
    assert load_folder(linked).configs


def test_a_file_with_very_many_problems_reports_the_first_fifty(write, churn_text):
    from mlops_provider.config.loader import MAX_PROBLEMS

    text = churn_text + "".join(f"unknown_{i}: 1\n" for i in range(MAX_PROBLEMS + 10))
    with pytest.raises(ConfigError) as info:
        load_config(write("churn.yaml", text))
    problems = info.value.problems
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1].message == "... and 10 more problems; fix these first and validate again"
