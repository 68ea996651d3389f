"""``mlops`` command line: validate configs, print the schema, and (later) audit and replay models.

Usage::

    mlops validate dags/configs            # every config of a folder (defaults.yaml merged)
    mlops validate dags/configs/churn.yaml # one file
    mlops schema > pipeline.schema.json    # JSON Schema for editors and config repositories' CI
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path


def _cmd_validate(args: argparse.Namespace) -> int:
    from mlops_provider.config import ConfigError, load_config, load_folder
    from mlops_provider.config.loader import DEFAULTS_FILE

    allowed = tuple(m.strip() for m in (args.allow_module or []) if m.strip())
    allowed = ("sklearn", *allowed) if allowed else ()
    errors: list[ConfigError] = []
    summaries: list[str] = []
    seen_models: dict[str, str] = {}
    for raw in args.paths:
        path = Path(raw)
        if path.is_dir():
            result = load_folder(path, allowed_estimator_modules=allowed)
            errors.extend(result.errors)
            items = list(result.configs.items())
        elif path.is_file():
            if path.name == DEFAULTS_FILE:
                continue
            try:
                items = [(str(path), load_config(path, allowed_estimator_modules=allowed))]
            except ConfigError as exc:
                errors.append(exc)
                items = []
        else:
            print(f"mlops validate: {raw}: no such file or folder", file=sys.stderr)
            errors.append(ConfigError(raw, []))
            continue
        for file, cfg in items:
            if cfg.model in seen_models and seen_models[cfg.model] != file:
                from mlops_provider.config import Problem

                errors.append(
                    ConfigError(
                        file,
                        [
                            Problem(
                                "model",
                                f"model {cfg.model!r} is already defined in {seen_models[cfg.model]}; "
                                "rename one",
                            )
                        ],
                    )
                )
                continue
            seen_models[cfg.model] = file
            gates = cfg.gates
            n_gates = (
                len(gates.metrics)
                + len(gates.fairness)
                + (gates.champion is not None)
                + (gates.latency is not None)
            )
            summaries.append(
                f"ok  {file}: model {cfg.model} ({cfg.task}), {len(cfg.data.features.all)} features, "
                f"{len(cfg.expectations)} expectations, {n_gates} gates, estimator "
                f"{cfg.training.estimator.class_}, training {cfg.schedule.training or 'on drift/manual only'}"
            )
    for line in summaries:
        print(line)
    for err in errors:
        if err.problems:
            print(str(err), file=sys.stderr)
    if errors:
        print(f"{len(errors)} invalid config file(s), {len(summaries)} valid", file=sys.stderr)
        return 1
    if not summaries:
        print("mlops validate: no config files found", file=sys.stderr)
        return 1
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from mlops_provider.config import PipelineConfig

    schema = PipelineConfig.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "airflow-provider-mlops pipeline config"
    print(json.dumps(schema, indent=2, sort_keys=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlops", description="airflow-provider-mlops command line")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="validate pipeline config files or folders")
    v.add_argument("paths", nargs="+", help="config files or folders (defaults.yaml in a folder is merged)")
    v.add_argument(
        "--allow-module",
        action="append",
        metavar="MODULE",
        help="also allow estimators from this module (as the [mlops] allowed_estimator_modules "
        "option of the deployment does)",
    )
    v.set_defaults(func=_cmd_validate)
    s = sub.add_parser("schema", help="print the JSON Schema of a pipeline config")
    s.set_defaults(func=_cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
