"""The cost report: the last task of the training, scoring and drift DAGs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_provider.naming import COST_DAG_TAG, COST_RUN_TAG, RESOURCES_XCOM
from mlops_provider.operators.base import MlopsBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from mlops_provider.cost.model import BudgetVerdict, RunCost

#: Keys of our tasks' return values that name what the run stored.
_STORED_URI_KEYS = ("snapshot_uri", "uri", "input_checks_uri")


class CostReportOperator(MlopsBaseOperator):
    """What this DAG run cost, recorded where people and tools read it, and the month against the budget.

    Runs last, whatever happened before it (a teardown: a failed run costs too, and the report never changes
    the run's state). It sums the resource readings every task of ours pushed (XCom ``mlops_resources``),
    counts the bytes the run stored (the MLflow artifacts of its runs, its snapshot, its prediction-log
    partition), prices them with the config's ``cost`` rates (:mod:`mlops_provider.cost.model`), and records:

    * a run in the MLflow experiment ``<model>-cost`` per DAG run (found again by a retry), with the metrics
      ``cost_usd_total``, ``cost_usd_compute``, ``cost_usd_storage`` (and ``cost_usd_per_1k_predictions`` for
      scoring), the same metrics on the training run's MLflow run;
    * with ``cost.monthly_budget_usd``: the month-to-date and its projection; over the budget, the
      ``budget_breach`` alert (once per month and level); over ``hold_retrain_at`` x the budget, a hold on
      drift-triggered retraining (the registry tag ``mlops.budget_hold``), lifted by the first report under it.

    :return: the run's cost (:class:`~mlops_provider.cost.model.RunCost` as a dict) and the budget verdict.
    """

    ui_color = "#f3e8ff"

    def execute(self, context: Context) -> dict[str, Any]:
        from mlops_provider.cost.model import budget_verdict, rates, run_cost

        cfg = self.pipeline
        ti = context["ti"]
        upstream = [t for t in (self.dag.task_ids if self.dag else []) if t != self.task_id]
        usages = list(_readings(ti.xcom_pull(task_ids=upstream, key=RESOURCES_XCOM)))
        results = [r for r in _readings(ti.xcom_pull(task_ids=upstream)) if isinstance(r, Mapping)]
        stored = self.stored_bytes(results)
        predictions = _predictions(results) if self.dag_id == cfg.dag_id("scoring") else None
        rate = rates(cfg.cost)
        cost = run_cost(usages, stored, predictions, rate)
        self.log.info(
            "%s run %s: $%.6f (compute $%.6f for %.1f task seconds at $%g/h; storage $%.6f for %s bytes at $%g per "
            "GB-month; rates: %s)",
            self.dag_id,
            context["run_id"],
            cost.total_usd,
            cost.compute_usd,
            cost.task_seconds,
            rate.hourly_usd,
            cost.storage_usd,
            f"{cost.stored_bytes:,}",
            rate.storage_usd_per_gb_month,
            rate.source,
        )
        now = datetime.now(UTC)
        cost_run = self.record(context, cost, results)
        month = self.month_runs(now)
        actual = self.actual_month_to_date(now) if cfg.cost.cost_explorer_tag else None
        estimated = sum(float(r["metrics"].get("cost_usd_total", 0)) for r in month)
        verdict = budget_verdict(cfg.cost, estimated, now, actual)
        if actual is not None:
            self.mlflow_hook.get_conn().log_metric(cost_run, "cost_usd_actual_month_to_date", actual)
        self.mlflow_hook.registry.set_month_cost(
            self.model_name,
            {
                "month": verdict.month,
                "estimated_usd": round(estimated, 9),
                "actual_usd": actual,
                "runs": len(month),
                "at": now.isoformat(timespec="seconds"),
            },
        )
        self.enforce(context, verdict, month)
        return {"cost": cost.as_dict(), "rates": rate.source, "budget": verdict.__dict__}

    # -- what the run stored ------------------------------------------------------------------------------

    def stored_bytes(self, results: Sequence[Mapping[str, Any]]) -> int:
        """Bytes of the files the tasks name (snapshot, prediction-log partition, input-check summary), of the
        MLflow artifacts of the runs they name (``mlflow_run_id``: training, drift check) and of the logged models
        they name (``model_id``). Something that cannot be sized counts 0, with a warning."""
        total = 0
        uris = {str(r[k]) for r in results for k in _STORED_URI_KEYS if isinstance(r.get(k), str) and r.get(k)}
        for uri in sorted(uris):
            try:
                total += self.storage.size(uri)
            except Exception as exc:
                self.log.warning("Could not size %s: %s", uri, exc)
        runs = {str(r["mlflow_run_id"]) for r in results if r.get("mlflow_run_id")}
        models = {str(r["model_id"]) for r in results if r.get("model_id")}  # MLflow 3 logged models
        if not runs and not models:
            return total
        client = self.mlflow_hook.get_conn()
        for run_id in sorted(runs):
            try:
                total += _artifact_bytes(client.list_artifacts, run_id, None)
            except Exception as exc:
                self.log.warning("Could not size the artifacts of MLflow run %s: %s", run_id, exc)
        for model_id in sorted(models):
            try:
                total += _artifact_bytes(client.list_logged_model_artifacts, model_id, None)
            except Exception as exc:
                self.log.warning("Could not size the artifacts of logged model %s: %s", model_id, exc)
        return total

    # -- where it is recorded ---------------------------------------------------------------------------

    @property
    def cost_experiment(self) -> str:
        from mlops_provider.cost.history import cost_experiment

        return cost_experiment(self.model_name)

    def record(self, context: Context, cost: RunCost, results: Sequence[Mapping[str, Any]]) -> str:
        """Log the cost to the DAG run's run in ``<model>-cost`` (created once, found again by a retry), and to
        the training run's MLflow run. Returns the cost run's id."""
        client = self.mlflow_hook.get_conn()
        experiment = self.mlflow_hook.ensure_experiment(self.cost_experiment)
        run_id = str(context["run_id"])
        found = client.search_runs(
            [experiment],
            filter_string=f"tags.`{COST_DAG_TAG}` = '{self.dag_id}' and tags.`{COST_RUN_TAG}` = '{run_id}'",
            max_results=1,
        )
        if found:
            cost_run = found[0].info.run_id
        else:
            tags = {COST_DAG_TAG: str(self.dag_id), COST_RUN_TAG: run_id, "mlops.model": self.model_name}
            cost_run = client.create_run(experiment, tags=tags, run_name=f"{self.dag_id} {run_id}").info.run_id
        metrics = cost.metrics()
        for key, value in metrics.items():
            client.log_metric(cost_run, key, value)
        client.set_terminated(cost_run)
        if self.dag_id == self.pipeline.dag_id("training"):
            for training_run in {str(r["mlflow_run_id"]) for r in results if r.get("mlflow_run_id")}:
                for key, value in metrics.items():
                    client.log_metric(training_run, key, value)
        return str(cost_run)

    def month_runs(self, now: datetime) -> list[dict[str, Any]]:
        """The model's cost reports since the month of ``now`` began (all its DAGs)."""
        from mlops_provider.cost.history import cost_runs
        from mlops_provider.cost.model import month_start

        return cost_runs(self.mlflow_hook.get_conn(), self.model_name, since=month_start(now))

    def actual_month_to_date(self, now: datetime) -> float | None:
        """The month's actual spend of the AWS resources tagged ``<cost.cost_explorer_tag>=<model>``, from AWS
        Cost Explorer through the amazon provider's hook (the tasks' AWS connection); None when it cannot be
        read (logged). Recorded on the run's cost run as ``cost_usd_actual_month_to_date``."""
        from datetime import timedelta

        from mlops_provider.cost.model import month_start

        tag = str(self.pipeline.cost.cost_explorer_tag)
        try:
            from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

            client = AwsBaseHook(aws_conn_id=self.aws_conn_id, client_type="ce").get_conn()
            answer = client.get_cost_and_usage(
                TimePeriod={
                    "Start": month_start(now).date().isoformat(),
                    "End": (now.date() + timedelta(days=1)).isoformat(),
                },
                Granularity="MONTHLY",
                Metrics=["UnblendedCost"],
                Filter={"Tags": {"Key": tag, "Values": [self.model_name], "MatchOptions": ["EQUALS"]}},
            )
            actual = sum(float(r["Total"]["UnblendedCost"]["Amount"]) for r in answer.get("ResultsByTime", []))
        except Exception as exc:
            self.log.warning("Could not read the actual spend from AWS Cost Explorer (tag %s): %s", tag, exc)
            return None
        self.log.info("AWS Cost Explorer: %s=%s cost $%.4f this month so far", tag, self.model_name, actual)
        return actual

    # -- the budget -----------------------------------------------------------------------------------------

    def enforce(self, context: Context, verdict: BudgetVerdict, month: list[dict[str, Any]]) -> None:
        """Alert on a breach (once per month and level), hold retraining far over the budget, lift the hold and
        resolve the month's budget incident when the projection is back under."""
        from mlops_provider.cost.history import by_dag
        from mlops_provider.notifications import catalogue, incidents

        registry = self.mlflow_hook.registry
        hold = verdict.level == "hold"
        current = registry.budget_hold(self.model_name)
        if hold:
            registry.set_budget_hold(
                self.model_name,
                {
                    "month": verdict.month,
                    "projected": round(verdict.projected, 4),
                    "budget": verdict.budget,
                    "hold_at": verdict.hold_at,
                    "since": (current or {}).get("since") or datetime.now(UTC).isoformat(timespec="seconds"),
                    "run_id": context["run_id"],
                },
            )
        elif current is not None:
            registry.set_budget_hold(self.model_name, None)
            self.log.info(
                "Budget hold of %s lifted: %s projected at $%.2f", self.model_name, verdict.month, verdict.projected
            )
        if verdict.level is None:
            incidents.resolve(
                self.model_name, "budget", f"{verdict.month} projected at ${verdict.projected:,.2f}, within budget"
            )
            return
        assert verdict.budget is not None
        if incidents.open_incidents(self.model_name, f"budget:{verdict.month}:{verdict.level}"):
            self.log.info("Budget breach of %s for %s already announced", self.model_name, verdict.month)
            return
        self.announce(
            catalogue.budget_breach(
                model=self.model_name,
                month=verdict.month,
                month_to_date=verdict.month_to_date,
                projected=verdict.projected,
                budget=verdict.budget,
                hold=hold,
                hold_at=verdict.hold_at,
                top=by_dag(month)[:3],
                link=self.run_link(context),
            )
        )


def _readings(pulled: Any) -> Iterator[Any]:
    """The values an ``xcom_pull`` over several tasks gave: flat, without the tasks that pushed nothing (a mapped
    task's values come as a sequence of their own)."""
    if pulled is None:
        return
    if isinstance(pulled, Mapping) or isinstance(pulled, str | bytes):
        yield pulled
        return
    try:
        items = list(pulled)
    except TypeError:
        yield pulled
        return
    for item in items:
        if item is None:
            continue
        if isinstance(item, Mapping):
            yield item
        else:
            yield from _readings(item)


def _predictions(results: Sequence[Mapping[str, Any]]) -> int | None:
    rows = [int(r["rows"]) for r in results if isinstance(r.get("rows"), int) and "model_version" in r]
    return sum(rows) if rows else None


def _artifact_bytes(listing: Any, owner: str, path: str | None) -> int:
    """Bytes of every artifact ``listing(owner, path)`` lists, folders walked."""
    total = 0
    for item in listing(owner, path):
        if item.is_dir:
            total += _artifact_bytes(listing, owner, item.path)
        else:
            total += int(item.file_size or 0)
    return total
