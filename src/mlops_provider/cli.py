"""``mlops`` command line: validate configs, print the schema, audit and replay registered models.

Usage::

    mlops validate dags/configs            # every config of a folder (defaults.yaml merged)
    mlops validate dags/configs/churn.yaml # one file
    mlops schema > pipeline.schema.json    # JSON Schema for editors and config repositories' CI
    mlops lineage churn 7 [--json]         # data, code, environment, params, gates, promotions of v7
    mlops reproduce churn 7                # retrain v7 from its snapshot; exit 0 identical, 1 differs, 2 error

``validate`` checks data paths against the deployment's ``[mlops] data_root`` and ``allowed_data_roots``, and
estimator classes against ``allowed_estimator_modules`` (all read from the Airflow configuration,
``AIRFLOW__MLOPS__*`` included); ``--allow-data-root`` and ``--allow-module`` add to them.
After the loader's checks it runs the deep checks (:mod:`mlops_provider.config.deep`: estimator parameters
and kind, expectation arguments, fairness slices), which import scikit-learn and Great Expectations.

``lineage`` and ``reproduce`` find MLflow through ``--tracking-uri``, else ``MLFLOW_TRACKING_URI``
(and ``MLFLOW_REGISTRY_URI``), else the Airflow connection ``mlflow_default``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_provider.config import PipelineConfig


def _cmd_validate(args: argparse.Namespace) -> int:
    from mlops_provider import settings
    from mlops_provider.config import ConfigError, load_config, load_folder
    from mlops_provider.config.deep import AT_VALIDATE, DeepConfigError, deep_check
    from mlops_provider.config.loader import DEFAULTS_FILE

    # The deployment's estimator modules and data roots, read from the Airflow configuration the DAG loader
    # reads, plus what the command line adds.
    extra = (m.strip() for m in (args.allow_module or []) if m.strip())
    allowed = tuple(dict.fromkeys((*settings.allowed_estimator_modules(), *extra)))
    roots = (*settings.allowed_data_roots(), *(r.strip() for r in (args.allow_data_root or []) if r.strip()))
    errors: list[ConfigError] = []
    summaries: list[str] = []  # an ok line per valid file, each followed by the checks it could not run
    valid = 0
    seen_models: dict[str, str] = {}
    for raw in args.paths:
        path = Path(raw)
        if path.is_dir():
            result = load_folder(path, allowed_estimator_modules=allowed, allowed_data_roots=roots)
            errors.extend(result.errors)
            items = list(result.configs.items())
        elif path.is_file():
            if path.name == DEFAULTS_FILE:
                continue
            try:
                items = [(str(path), load_config(path, allowed_estimator_modules=allowed, allowed_data_roots=roots))]
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
                                f"model {cfg.model!r} is already defined in {seen_models[cfg.model]}; rename one",
                            )
                        ],
                    )
                )
                continue
            seen_models[cfg.model] = file
            # What the loader (run on every DAG parse) cannot see without scikit-learn and Great Expectations.
            deep = deep_check(cfg, file, allowed_estimator_modules=allowed)
            if deep.problems:
                errors.append(DeepConfigError(file, deep.problems, effect=AT_VALIDATE))
                continue
            gates = cfg.gates
            n_gates = (
                len(gates.metrics) + len(gates.fairness) + (gates.champion is not None) + (gates.latency is not None)
            )
            summaries.append(
                f"ok  {file}: model {cfg.model} ({cfg.task}), {len(cfg.data.features.all)} features, "
                f"{len(cfg.expectations)} expectations, {n_gates} gates, estimator "
                f"{cfg.training.estimator.class_}, training {cfg.schedule.training or 'on drift/manual only'}, "
                f"deploy {_deploy_summary(cfg)}"
            )
            valid += 1
            summaries.extend(f"    not checked: {note}" for note in deep.skipped)
    for line in summaries:
        print(line)
    for err in errors:
        if err.problems:
            print(str(err), file=sys.stderr)
    if errors:
        print(f"{len(errors)} invalid config file(s), {valid} valid", file=sys.stderr)
        return 1
    if not valid:
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


class _Unreachable(Exception):
    """No usable MLflow store; the message says why."""


def _client(args: argparse.Namespace) -> object:
    """MlflowClient for ``--tracking-uri``, else ``MLFLOW_TRACKING_URI``, else connection ``mlflow_default``."""
    tracking = args.tracking_uri
    registry = tracking
    hook = None
    if not tracking and os.environ.get("MLFLOW_TRACKING_URI"):
        tracking = os.environ["MLFLOW_TRACKING_URI"]
        registry = os.environ.get("MLFLOW_REGISTRY_URI") or tracking
    if not tracking:
        try:
            from mlops_provider.hooks.mlflow import MlflowHook

            hook = MlflowHook()
            tracking, registry = hook.tracking_uri, hook.registry_uri
        except Exception as exc:
            raise _Unreachable(
                "no MLflow tracking URI: pass --tracking-uri, set MLFLOW_TRACKING_URI, or define the Airflow "
                f"connection mlflow_default ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
            ) from None
    for uri in {tracking, registry}:
        if uri.startswith("sqlite:///"):
            db = Path(uri[len("sqlite:///") :])
            if not db.is_file():  # MLflow would silently create an empty store
                raise _Unreachable(f"no MLflow database at {db} (tracking URI {uri})")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep the report on one screen
    if hook is not None:  # also applies the connection's tracking server credentials
        return hook.get_conn()
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking, registry_uri=registry)


def _why(exc: Exception) -> str:
    """The message of an expected failure as is; anything else with its type."""
    from mlops_provider.datasets import DataError
    from mlops_provider.lineage.audit import LineageError
    from mlops_provider.modeling import EstimatorError

    if isinstance(exc, (LineageError, DataError, EstimatorError, _Unreachable)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _cmd_lineage(args: argparse.Namespace) -> int:
    from mlops_provider.cli_render import render_audit
    from mlops_provider.lineage.audit import audit_record

    try:
        record = audit_record(_client(args), args.model, args.version)  # type: ignore[arg-type]
    except Exception as exc:
        print(f"mlops lineage: {_why(exc)}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(record, indent=2, sort_keys=False, default=str))
    else:
        print(render_audit(record))
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from mlops_provider.cli_render import render_checks, render_outcome
    from mlops_provider.lineage.checks import check_lineage
    from mlops_provider.lineage.replay import replay

    try:
        client = _client(args)
        inspection, snapshot = check_lineage(
            client,  # type: ignore[arg-type]
            args.model,
            args.version,
            lock_file=Path(args.lock) if args.lock else None,
            dags_folder=Path(args.dags) if args.dags else None,
        )
    except Exception as exc:
        print(f"mlops reproduce: cannot reproduce {args.model} v{args.version}:\n{_why(exc)}", file=sys.stderr)
        return 2
    # Lineage warnings (environment, lock, config) are shown before the retraining starts.
    print(render_checks(inspection.model, inspection.version, inspection.mlflow_run_id, inspection.checks))
    print(flush=True)
    try:
        report = replay(client, inspection, snapshot)  # type: ignore[arg-type]
    except Exception as exc:
        print(f"mlops reproduce: replay of {args.model} v{args.version} failed:\n{_why(exc)}", file=sys.stderr)
        return 2
    print(render_outcome(report))
    return 0 if report.identical else 1


def _cmd_incidents(args: argparse.Namespace) -> int:
    from mlops_provider import settings
    from mlops_provider.cli_render import render_incidents
    from mlops_provider.notifications.incidents import incidents

    found = incidents(args.model)
    if args.open:
        found = [i for i in found if i["resolved_at"] is None]
    if args.json:
        print(json.dumps(found, indent=2, default=str))
    else:
        print(render_incidents(args.model, found, settings.incidents_path()))
    return 0


def _cmd_cost(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from mlops_provider.cli_render import render_cost
    from mlops_provider.cost.history import cost_runs
    from mlops_provider.cost.model import month_start
    from mlops_provider.hooks.registry import ModelRegistry

    try:
        client = _client(args)
        now = datetime.now(UTC)
        month = cost_runs(client, args.model, since=month_start(now))
        recent = cost_runs(client, args.model, limit=args.runs)
        hold = ModelRegistry(client).budget_hold(args.model)  # type: ignore[arg-type]
    except Exception as exc:
        print(f"mlops cost: {_why(exc)}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"month": month, "recent": recent, "budget_hold": hold}, indent=2, default=str))
    else:
        print(render_cost(args.model, now, month, recent, hold))
    return 0


def _status_airflow(args: argparse.Namespace) -> object:
    """The REST API ``mlops status`` asks, with a token from --token / AIRFLOW_API_TOKEN, else from the user and
    password in AIRFLOW_API_USER / AIRFLOW_API_PASSWORD; without credentials, None (Airflow is left out)."""
    from mlops_provider import settings
    from mlops_provider.dashboard.airflow_api import AirflowApi, token_for

    url = args.api_url or settings.airflow_api_url()
    token = args.token or os.environ.get("AIRFLOW_API_TOKEN")
    user, password = os.environ.get("AIRFLOW_API_USER"), os.environ.get("AIRFLOW_API_PASSWORD")
    if not token and user and password:
        token = token_for(url, user, password)
    return AirflowApi(url, token) if token else None


def _cmd_status(args: argparse.Namespace) -> int:
    from mlops_provider.cli_render import render_status
    from mlops_provider.dashboard.airflow_api import AirflowUnavailable
    from mlops_provider.dashboard.service import UnknownModel, model_data, overview_data

    try:
        client = _client(args)
        try:
            airflow = _status_airflow(args)
            why = None if airflow else "no credentials (set AIRFLOW_API_TOKEN, or AIRFLOW_API_USER and _PASSWORD)"
        except AirflowUnavailable as exc:
            airflow, why = None, str(exc)
        if args.model:
            data = model_data(args.model, airflow, client=client, tracking_uri=args.tracking_uri)
            rows = [data]
            unavailable = dict(data["unavailable"])
        else:
            data = overview_data(airflow, client=client, tracking_uri=args.tracking_uri)
            rows, unavailable = data["models"], dict(data["unavailable"])
    except (UnknownModel, _Unreachable) as exc:
        print(f"mlops status: {exc}", file=sys.stderr)
        return 2
    if why:
        unavailable["airflow"] = why
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print(render_status(rows, unavailable, detail=bool(args.model)))
    return 1 if any(r["attention"] for r in rows) else 0


def _add_tracking_uri(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="MLflow tracking (and registry) URI; default MLFLOW_TRACKING_URI, else the Airflow connection "
        "mlflow_default",
    )


def _add_mlflow_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="registered model name (the config's model)")
    p.add_argument("version", help="model version number")
    _add_tracking_uri(p)


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
    v.add_argument(
        "--allow-data-root",
        action="append",
        metavar="ROOT",
        help="also allow data under this folder or s3:// prefix (as the [mlops] allowed_data_roots option of "
        "the deployment does; that option and [mlops] data_root are always read)",
    )
    v.set_defaults(func=_cmd_validate)
    s = sub.add_parser("schema", help="print the JSON Schema of a pipeline config")
    s.set_defaults(func=_cmd_schema)
    lin = sub.add_parser(
        "lineage", help="print what a model version was made from: data, code, environment, gates, promotions"
    )
    _add_mlflow_args(lin)
    lin.add_argument("--json", action="store_true", help="print the record as JSON")
    lin.set_defaults(func=_cmd_lineage)
    rep = sub.add_parser(
        "reproduce",
        help="retrain a model version from its lineage and compare; exit 0 identical, 1 differs, 2 cannot replay",
    )
    _add_mlflow_args(rep)
    rep.add_argument("--lock", metavar="PATH", help="dependency lock file to compare (default: [mlops] lock_file)")
    rep.add_argument("--dags", metavar="PATH", help="dags checkout whose git commit is compared with the recorded one")
    rep.set_defaults(func=_cmd_reproduce)
    inc = sub.add_parser(
        "incidents",
        help="list a model's incidents (failures, drift episodes, escalations, rollbacks), newest first",
    )
    inc.add_argument("model", help="model name (the config's model)")
    inc.add_argument("--open", action="store_true", help="only the incidents not resolved yet")
    inc.add_argument("--json", action="store_true", help="print the incidents as JSON, oldest first")
    inc.set_defaults(func=_cmd_incidents)
    cost = sub.add_parser("cost", help="a model's cost: this month by DAG, its projection, the latest runs")
    cost.add_argument("model", help="model name (the config's model)")
    cost.add_argument("--runs", type=int, default=10, metavar="N", help="how many recent runs to list (10)")
    cost.add_argument("--json", action="store_true", help="print the month's and the recent runs as JSON")
    _add_tracking_uri(cost)
    cost.set_defaults(func=_cmd_cost)
    st = sub.add_parser(
        "status",
        help="health of every model (or one): pipelines, registry, drift, cost; exit 1 when one needs attention",
    )
    st.add_argument("model", nargs="?", help="only this model, with its versions, gates and recent runs")
    st.add_argument("--json", action="store_true", help="print what the dashboard's JSON endpoint returns")
    st.add_argument(
        "--api-url", metavar="URL", help="Airflow REST API address (default: [mlops] api_url, else [api] base_url)"
    )
    st.add_argument("--token", metavar="JWT", help="Airflow API token (default: AIRFLOW_API_TOKEN)")
    _add_tracking_uri(st)
    st.set_defaults(func=_cmd_status)
    return parser


def _deploy_summary(cfg: PipelineConfig) -> str:
    deploy = cfg.deploy
    how: str = deploy.strategy
    if how == "canary":
        how += f" {deploy.canary.fraction:.0%}"
    return how + (" after sign-off" if deploy.approval.required else "")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:  # `mlops lineage churn 1 | head`: the reader has all it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not fail again
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
