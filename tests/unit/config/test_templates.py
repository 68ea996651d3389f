"""Config strings are data: only the documented date macros render, and only in scoring.source."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mlops_provider.config import ConfigError, PipelineConfig, load_config, load_folder
from mlops_provider.config.reference import render_reference
from mlops_provider.config.schema import ALLOWED_MACROS, TEMPLATED_FIELDS, FieldProblem
from tests.unit.config.conftest import WriteFn


def _with(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    node = data
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {}) if isinstance(node, dict) else node[int(part)]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


def _problem(data: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ValueError) as info:
        PipelineConfig.model_validate(data)
    err = info.value.errors()[0]  # type: ignore[attr-defined]
    exc = err["ctx"]["error"]
    assert isinstance(exc, FieldProblem)
    return exc.path, str(exc)


@pytest.mark.parametrize(
    "source",
    [
        "churn/current/{{ ds }}.parquet",
        "churn/current/{{ds}}.parquet",
        "churn/current/{{   ds_nodash   }}.csv",
        "churn/{{ ts }}/{{ ts_nodash }}",
        "churn/{{ data_interval_start }}_{{ data_interval_end }}/{{ logical_date }}",
        "churn/current/{{ macros.ds_add(ds, -1) }}.parquet",
        "churn/current/{{macros.ds_add( ds , 7 )}}.parquet",
        "churn/current/latest.parquet",
    ],
)
def test_scoring_source_may_use_the_date_macros(churn_data, source):
    assert PipelineConfig.model_validate(_with(churn_data, "scoring.source", source)).scoring.source == source


@pytest.mark.parametrize(
    ("source", "snippet"),
    [
        ("{{ conn.secret_db.password }}/{{ ds }}.parquet", "{{ conn.secret_db.password }}"),
        ("churn/{{ var.value.bucket }}/x", "{{ var.value.bucket }}"),
        ("churn/{{ ds | upper }}.parquet", "{{ ds | upper }}"),
        ("churn/{{ ds ~ conn.x.password }}", "{{ ds ~ conn.x.password }}"),
        ("churn/{{ macros.ds_add(ds, n) }}", "{{ macros.ds_add(ds, n) }}"),
        ("churn/{{ macros.ds_add(ds, 1.5) }}", "{{ macros.ds_add(ds, 1.5) }}"),
        ("churn/{{- ds -}}.parquet", "{{- ds -}}"),
        ("churn/{% if true %}x{% endif %}/{{ ds }}", "{% if true %}"),
        ("churn/{# note #}{{ ds }}", "{# note #}"),
        ("churn/{{{ ds }}.parquet", "{{{ ds }}"),
        ("churn/{{ ds }", "{{ ds }"),
    ],
)
def test_scoring_source_rejects_every_other_template(churn_data, source, snippet):
    path, message = _problem(_with(churn_data, "scoring.source", source))
    assert path == "scoring.source"
    assert f"'{snippet}'" in message and "is not an allowed macro" in message
    assert "scoring.source may use only the date macros " + ", ".join(ALLOWED_MACROS) in message
    assert "Airflow connections" in message


@pytest.mark.parametrize(
    ("dotted", "value"),
    [
        ("scoring.output", "predictions/{{ ds }}"),
        ("data.source", "churn/{{ ds }}/labeled"),
        ("description", "{{ conn.secret_db.password }}"),
        ("owner", "{% raw %}x{% endraw %}"),
        ("airflow.tags", ["churn", "{{ var.value.team }}"]),
        ("training.estimator.params", {"learning_rate": "{{ var.value.lr }}"}),
        ("expectations", [{"expect_column_values_to_not_be_null": {"column": "{{ conn.x.login }}"}}]),
        ("alerting.slack_conn_id", "{# comment #}slack"),
        ("drift.per_column", {"{{ conn.x.password }}": {"method": "psi"}}),
    ],
)
def test_templates_are_rejected_in_every_other_string_and_key(churn_data, dotted, value):
    data = _with(churn_data, "scoring.source", "churn/current/{{ ds }}.parquet")
    path, message = _problem(_with(data, dotted, value))
    assert path.startswith(dotted), path
    assert "scoring.source may use the date macros" in message
    assert "{{ ds }}" in message and "{{ macros.ds_add(ds, N) }}" in message


def test_every_templated_value_is_named(churn_data):
    data = _with(churn_data, "description", "{{ a }}")
    data = _with(data, "owner", "{{ b }}")
    path, message = _problem(_with(data, "scoring.output", "{{ c }}"))
    assert path == "description"
    assert "2 more value(s) of this config hold templates too: " in message
    assert sorted(message.rsplit(": ", 1)[1].split(", ")) == ["owner", "scoring.output"]


def test_template_in_defaults_yaml_is_reported_against_defaults_yaml_and_its_line(write: WriteFn, churn_text: str):
    defaults = write(
        "defaults.yaml",
        "owner: ml-platform\ndescription: '{{ var.value.x }}'\n"
        "airflow:\n  tags: [nightly, '{{ conn.slack.password }}']\n",
    )
    path = write("churn.yaml", churn_text)  # overrides description, not the tags
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.file == str(defaults)
    assert [(p.path, p.line) for p in info.value.problems] == [("description", 2), ("airflow.tags[1]", 4)]
    assert "'{{ conn.slack.password }}'" in str(info.value)
    # the DAG loader reports it the same way and builds nothing from the folder
    result = load_folder(path.parent)
    assert result.configs == {} and "contains the template" in str(result.errors[0])


def test_shipped_config_uses_only_allowed_macros(churn_data):
    assert "{{ ds }}" in PipelineConfig.model_validate(churn_data).scoring.source


def test_reference_lists_the_macros_and_the_fields_that_take_them():
    page = render_reference()
    assert "## Templates" in page
    for macro in ALLOWED_MACROS:
        assert f"- `{macro}`" in page
    for field in TEMPLATED_FIELDS:
        assert f"`{field}`" in page


@pytest.mark.parametrize(
    ("snippet", "tag"),
    [
        # base64 of "churn/{{ conn.mlflow_default.password }}.parquet": the text a template check reads is not there
        ("  source: !!binary Y2h1cm4ve3sgY29ubi5tbGZsb3dfZGVmYXVsdC5wYXNzd29yZCB9fS5wYXJxdWV0\n", "!!binary"),
        ('  output: !!set {"{{ var.value.secret }}": null}\n', "!!set"),
    ],
)
def test_yaml_tags_that_build_bytes_or_sets_cannot_smuggle_a_template(write: WriteFn, churn_text: str, snippet, tag):
    text = churn_text.replace('  source: "churn/current/{{ ds }}.parquet"', snippet.rstrip("\n"))
    assert text != churn_text
    with pytest.raises(ConfigError) as info:
        load_config(write("churn.yaml", text))
    assert f"YAML tag '{tag}' is not allowed" in str(info.value)


def test_templates_inside_bytes_and_sets_of_a_python_dict_config_are_found(churn_data: dict[str, Any]) -> None:
    from mlops_provider.config.schema import find_templates

    found = dict(find_templates({"a": b"{{ conn.x.password }}", "b": {"{{ var.value.y }}"}}))
    assert set(found) == {"a", "b[0]"}
