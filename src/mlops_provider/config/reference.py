"""The pipeline config reference (``docs/config-reference.md``), rendered from the pydantic schema.

Regenerate the committed page after changing the schema::

    python -m mlops_provider.config.reference > docs/config-reference.md

A unit test fails when the page and :func:`render_reference` disagree. The "Rules across keys" come from
the rules the validators register next to their code (:mod:`mlops_provider.config.rules`). Only the schema
and the expectation catalog are imported: no Airflow, no pandas, no scikit-learn, no MLflow.
"""

from __future__ import annotations

import json
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from mlops_provider.config.errors import unwrap_model
from mlops_provider.config.gx_catalog import GX_EXPECTATIONS
from mlops_provider.config.rules import RULES
from mlops_provider.config.schema import (
    ALLOWED_MACROS,
    CLASSIFICATION_METRICS,
    DEFAULT_ESTIMATOR_MODULES,
    METRIC_KINDS,
    REGRESSION_METRICS,
    TEMPLATED_FIELDS,
    PipelineConfig,
)
from mlops_provider.config.yamlsafe import MAX_DEPTH, MAX_FILE_BYTES, MAX_VALUES

REGENERATE = "python -m mlops_provider.config.reference > docs/config-reference.md"

Schema = dict[str, Any]


def _key_order(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key path of ``model`` (``[]`` dropped), depth first in the order the schema declares them."""
    out = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{info.alias or name}"
        out.append(key)
        nested = _nested_model(info)
        if nested is not None:
            out += _key_order(nested, key + ".")
    return out


def _cross_field_rules() -> tuple[tuple[str, str], ...]:
    """The rules the validators register (:mod:`mlops_provider.config.rules`), ordered by their first key as
    the schema declares it."""
    order = {key: i for i, key in enumerate(_key_order(PipelineConfig))}

    def position(where: str) -> int:
        first = where.split(", ")[0].replace("[]", "")
        return order.get(first, len(order))

    return tuple((r.where, r.text) for r in sorted(RULES, key=lambda r: position(r.where)))


def _resolve(schema: Schema, root: Schema) -> Schema:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return dict(root["$defs"][ref.split("/")[-1]])
    return schema


def _bounds(schema: Schema) -> str:
    parts = []
    for key, op in (("exclusiveMinimum", ">"), ("minimum", ">="), ("exclusiveMaximum", "<"), ("maximum", "<=")):
        if key in schema:
            parts.append(f"{op} {schema[key]}")
    if "minLength" in schema or "maxLength" in schema:
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        parts.append(f"{low}-{high} characters" if high is not None else "non-empty")
    return ", ".join(parts)


def _type(schema: Schema, root: Schema) -> str:
    """A short type for a JSON Schema node: ``integer (>= 0, <= 20)``, ``mapping``, ``list of text``."""
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        text = " or ".join(_type(s, root) for s in options)
        return f"{text} or null" if len(options) < len(schema["anyOf"]) else text
    if "$ref" in schema:
        target = _resolve(schema, root)
        return "mapping" if target.get("properties") else "mapping (no keys yet)"
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v}`" for v in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}), root)}"
    words = {"string": "text", "integer": "integer", "number": "number", "boolean": "boolean", "object": "mapping"}
    text = words.get(str(kind), str(kind))
    if kind == "string" and schema.get("format") == "date":
        text = "date (YYYY-MM-DD)"
    bounds = _bounds(schema)
    return f"{text} ({bounds})" if bounds else text


def _value(value: Any) -> str:
    """A default written as it would be in YAML."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value) if value == "" or value != value.strip() else value
    if isinstance(value, BaseModel):
        return "{}"
    if isinstance(value, list | dict | tuple):
        return json.dumps(value)
    return str(value)


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    else:
        value = info.default
    return f"`{_value(value)}`"


def _cell(text: str) -> str:
    """Table-cell safe: one line, pipes escaped, and ``<model>`` not taken for an HTML tag."""
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _nested_model(info: FieldInfo) -> type[BaseModel] | None:
    model: type[BaseModel] | None = unwrap_model(info.annotation)
    return model


def _is_list(info: FieldInfo) -> bool:
    return typing.get_origin(info.annotation) is list


def _sections(model: type[BaseModel], path: str, root: Schema) -> list[tuple[str, type[BaseModel], Schema]]:
    """(dotted path, model class, its JSON Schema) for ``model`` and every section under it, depth first."""
    schema = _resolve({"$ref": f"#/$defs/{model.__name__}"}, root) if path else root
    out = [(path, model, schema)]
    for name, info in model.model_fields.items():
        nested = _nested_model(info)
        if nested is None or not nested.model_fields:
            continue
        key = info.alias or name
        sub = f"{path}.{key}" if path else key
        out += _sections(nested, sub + ("[]" if _is_list(info) else ""), root)
    return out


def _anchor(path: str) -> str:
    """The heading anchor GitHub and MkDocs give ``## `path```."""
    return "".join(c for c in path.lower() if c.isalnum() or c in "-_")


def _table(model: type[BaseModel], path: str, schema: Schema, root: Schema) -> list[str]:
    rows = ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    properties = schema.get("properties", {})
    for name, info in model.model_fields.items():
        key = info.alias or name
        kind = _type(properties[key], root)
        nested = _nested_model(info)
        if nested is not None and nested.model_fields:
            sub = (f"{path}.{key}" if path else key) + ("[]" if _is_list(info) else "")
            kind = kind.replace("mapping", f"mapping, see [`{sub}`](#{_anchor(sub)})", 1)
        description = (info.description or "").replace("``", "`")
        rows.append(f"| `{key}` | {_cell(kind)} | {_default(info)} | {_cell(description)} |")
    return rows


def _metric_table() -> list[str]:
    rows = [
        "| Task | Metric | Better | binary | multiclass | regression | Definition |",
        "|---|---|---|---|---|---|---|",
    ]
    for task, metrics in (("classification", CLASSIFICATION_METRICS), ("regression", REGRESSION_METRICS)):
        for name, higher in metrics.items():
            kinds, definition = METRIC_KINDS[name]
            marks = " | ".join("yes" if k in kinds else "—" for k in ("binary", "multiclass", "regression"))
            rows.append(f"| {task} | `{name}` | {'higher' if higher else 'lower'} | {marks} | {_cell(definition)} |")
    return rows


#: Rules that involve more than one key, as their validators state them; the types and bounds come from the schema.
CROSS_FIELD_RULES: tuple[tuple[str, str], ...] = _cross_field_rules()


def render_reference() -> str:
    """The whole Markdown page."""
    root = PipelineConfig.model_json_schema(by_alias=True)
    lines = [
        "<!-- Generated from the pydantic schema and its validators' rules (src/mlops_provider/config/); do not edit "
        "by hand.",
        f"     Regenerate with: {REGENERATE} -->",
        "",
        "# Pipeline config reference",
        "",
        "One YAML file per model in `dags/configs/` (`.yaml` or `.yml`; hidden files are ignored). "
        "`dags/configs/defaults.yaml` is merged beneath every model file: mappings merge key by key, any other "
        "value (a list, a number, text) in the model file replaces the default. Every section rejects unknown "
        "keys, so a typo is an error, never a silently ignored setting.",
        "",
        "Check files with `mlops validate dags/configs`. `mlops schema` prints the same schema as JSON Schema "
        "(draft 2020-12) for editors and for the CI of a config repository.",
        "",
        "A minimal config:",
        "",
        "```yaml",
        "model: churn",
        "data:",
        "  source: churn/labeled",
        "  target: churned",
        "  features:",
        "    numeric: [tenure_months]",
        "training:",
        "  estimator:",
        "    class: sklearn.linear_model.LogisticRegression",
        "```",
        "",
    ]
    for path, model, schema in _sections(PipelineConfig, "", root):
        title = f"`{path}`" if path else "Top level"
        lines += [f"## {title}", ""]
        doc = (model.__doc__ or "").strip().split("\n\n")[0]
        if doc and path:
            lines += [_cell(doc.replace("``", "`")), ""]
        if path.endswith("[]"):
            lines += [f"`{path[:-2]}` is a list; each item takes these keys.", ""]
        lines += [*_table(model, path, schema, root), ""]
        if path == "training.estimator":
            allowed = ", ".join(f"`{m}`" for m in DEFAULT_ESTIMATOR_MODULES)
            lines += [
                "**Allow-list.** `class` must be a dotted path (`module.Class`) inside an allowed module: "
                f"{allowed} by default. An Airflow admin can allow more modules with the "
                "`[mlops] allowed_estimator_modules` option (comma-separated); a config file can never widen "
                "the list. Check against a wider list locally with `mlops validate --allow-module MODULE`. "
                "When the task runs, the class must also import, be a scikit-learn estimator (`BaseEstimator`) "
                "and be a classifier or a regressor as `task` says.",
                "",
            ]
    lines += ["## Rules across keys", "", "Checked when a config is loaded, like the types above.", ""]
    lines += [f"- `{where}`: {rule}" for where, rule in CROSS_FIELD_RULES]
    fields = ", ".join(f"`{f}`" for f in TEMPLATED_FIELDS)
    lines += [
        "",
        "## Templates",
        "",
        "A config is data: Airflow renders nothing in it but these date macros, and only in "
        f"{fields} (whitespace inside the braces is free; `N` is a whole number of days, e.g. "
        "`{{ macros.ds_add(ds, -1) }}` for the day before the run's date):",
        "",
        *(f"- `{macro}`" for macro in ALLOWED_MACROS),
        "",
        "Any other template (`{{ ... }}`, `{% ... %}`, `{# ... #}`) anywhere in a config, `defaults.yaml` "
        "included (values, list items, estimator params, expectation arguments, mapping keys), is an error "
        "when the config is loaded. Secrets never go in a config: they live in Airflow connections, and a "
        "config names connections by id (`alerting.slack_conn_id`).",
        "",
        "## Size limits",
        "",
        f"A config file may be at most {MAX_FILE_BYTES // 1024} KiB, nest values at most {MAX_DEPTH} levels "
        f"deep and hold at most {MAX_VALUES:,} values (scalars, lists and mappings, keys included) counted with "
        "every YAML alias expanded. Anchors, aliases and merge keys (`<<: *base`) of ordinary size work; a "
        "file whose aliases multiply past the limit is rejected at the alias that crosses it. A config file "
        "that is a symbolic link out of its folder is not read.",
    ]
    lines += [
        "",
        "## Metrics",
        "",
        "Every metric of the task is computed on the holdout and logged to MLflow as `holdout_<metric>`. "
        "Gates and `training.primary_metric` may name only the metrics of the config's `task`. The default "
        "`primary_metric` is `roc_auc` for classification and `rmse` for regression.",
        "",
        *_metric_table(),
        "",
        "`task: classification` covers binary and multiclass targets: which one is decided from the labels "
        "when the model is trained (recorded as the MLflow tag `mlops.target_kind`). Labels may be strings, "
        "booleans or integers. The positive class of a binary target (what `roc_auc`, `average_precision`, "
        "`f1`, `precision` and `recall` are about) is `data.positive_class` when set, else the one yes-like "
        "label (`1`, `True`, `yes`, `true`, `positive`, `pos`, `y`; case-insensitive), else the minority "
        "class. A metric that is not defined for the target or cannot be computed (no `predict_proba`, a "
        "class missing from the holdout) is left out of the metrics and reported as *not available* with "
        "the reason; a gate on it fails, or is skipped when the gate sets `if_unavailable: skip`.",
        "",
        "## Great Expectations expectations",
        "",
        "Names an item of `expectations` may use (Great Expectations 1.x core expectations), with their "
        "arguments as in the Great Expectations gallery:",
        "",
        "```yaml",
        "expectations:",
        "  - expect_table_row_count_to_be_between: {min_value: 1000}",
        "  - expect_column_values_to_not_be_null: {column: customer_id, mostly: 0.99}",
        "```",
        "",
        *(f"- `{name}`" for name in sorted(GX_EXPECTATIONS)),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.stdout.write(render_reference())
