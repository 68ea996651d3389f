"""Text of the ``mlops lineage`` and ``mlops reproduce`` reports.

The library (:mod:`mlops_provider.lineage`) returns records and reports as data; how they read on a
terminal is decided here.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mlops_provider.lineage.checks import WARN

if TYPE_CHECKING:
    from mlops_provider.lineage.checks import Check
    from mlops_provider.lineage.replay import ReproductionReport


def render_audit(record: dict[str, Any]) -> str:
    """``mlops lineage`` as text: one section per question an auditor asks."""
    d, c, e, p, t = (record[k] for k in ("data", "code", "environment", "params", "training"))
    window = d.get("window") or {}
    span = f"{window.get('start')} .. {window.get('end')}" if window.get("start") else "all rows (no time window)"
    aliases = ", ".join(record["aliases"]) or "none"
    rows = f"{d['rows']:,}" if isinstance(d.get("rows"), int) else str(d.get("rows"))
    lines = [
        f"{record['model']} v{record['version']} (registered {record.get('created') or 'unknown'}; aliases: {aliases})",
        "",
        "Data",
        f"  rows          {rows}",
        f"  sha256        {d.get('sha256')}",
        f"  snapshot      {d.get('snapshot')}",
        f"  source        {d.get('source')}",
        f"  window        {span}",
        "Code",
        f"  package       airflow-provider-mlops {c.get('package_version')}",
        f"  git commit    {c.get('git_commit')}",
        f"  config sha256 {c.get('config_sha256')}",
        "Environment",
        f"  lock sha256   {e.get('lock_sha256')}",
    ]
    lines += [f"  {k:<13} {v}" for k, v in (e.get("packages") or {}).items()]
    params = ", ".join(f"{k}={v!r}" for k, v in sorted((p.get("params") or {}).items())) or "defaults"
    lines += [
        "Params",
        f"  estimator     {p.get('estimator')}",
        f"  params        {params}",
        f"  seed          {p.get('seed')}",
        f"  test_size     {p.get('test_size')}",
        "Training",
        f"  DAG run       {t.get('airflow_dag_id')} / {t.get('airflow_run_id')}",
        f"  trigger       {json.dumps(t.get('trigger')) if not isinstance(t.get('trigger'), str) else t['trigger']}",
        f"  MLflow run    {t.get('mlflow_run_id')}",
    ]
    if record.get("metrics"):
        lines.append("  metrics       " + ", ".join(f"{k}={v}" for k, v in sorted(record["metrics"].items())))
    lines.append("Gates")
    for g in record.get("gates") or []:
        verdict = "pass" if g.get("passed") else ("FAIL" if g.get("severity") == "fail" else "warn")
        lines.append(
            f"  {verdict:<5} {g.get('gate'):<28} value {_gate_num(g.get('value'))}  threshold "
            f"{_gate_num(g.get('threshold'))}  ({g.get('severity')})"
        )
    if not record.get("gates"):
        lines.append("  none recorded")
    approval = record.get("approval")
    if approval:
        who = f" by {approval.get('by')}" if approval.get("by") else ""
        lines.append(
            f"Sign-off        {str(approval.get('decision')).replace('_', ' ')}{who} at {approval.get('at')} "
            f"(DAG run {approval.get('run_id')})"
        )
    for trial in record.get("trials") or []:
        lines.append(
            f"Trial           {trial.get('strategy')} against v{trial.get('champion')}: {trial.get('outcome')} at "
            f"{trial.get('at')}" + (f" (DAG run {trial['run_id']})" if trial.get("run_id") else "")
        )
        for g in trial.get("gates") or []:
            lines.append(f"  {'pass' if g.get('passed') else 'FAIL':<5} {g.get('gate'):<28} {g.get('detail')}")
        if trial.get("reason"):
            lines.append(f"  {trial['reason']}")
    lines.append("Promotion history")
    for ev in record.get("promotions") or []:
        rollback = ev.get("kind") == "rollback"
        if ev["event"] == "promoted":
            replacing = f"replacing {'v' + str(ev['from']) if ev.get('from') else 'no champion'}"
            what = f"champion again by rollback ({replacing})" if rollback else f"promoted to champion ({replacing})"
        else:
            what = f"replaced as champion by v{ev.get('to')}" + (" (rollback)" if rollback else "")
        by = f" by {ev.get('by')}" if rollback else ""
        lines.append(f"  {ev.get('at')}  {what}; DAG run {ev.get('run_id')}{by}; reason: {ev.get('reason')}")
    if not record.get("promotions"):
        lines.append("  never promoted to champion")
    return "\n".join(lines)


def _gate_num(x: Any) -> str:
    return "n/a" if x is None else (f"{x:.4g}" if isinstance(x, float) else str(x))


def render_checks(model: str, version: str, run_id: str, checks: list[Check]) -> str:
    """The lineage checks, printed before the retraining starts."""
    lines = [f"Reproduce {model} v{version} (MLflow run {run_id})", "Lineage checks (before retraining):"]
    lines += [_check_line(c) for c in checks]
    return "\n".join(lines)


def _check_line(c: Check) -> str:
    return f"  {c.status.upper() if c.status == WARN else c.status:<5} {c.name:<8} {c.message}"


def render_outcome(report: ReproductionReport) -> str:
    """What the replay came out as: the metrics table, the predictions, IDENTICAL or DIFFERENT and why."""
    from mlops_provider.lineage.replay import format_number as num

    if report.split_same is None:
        split = " (the original run logged no holdout: predictions compared on this one)"
    else:
        split = ", same split as the original run" if report.split_same else ", split DIFFERS from the original run"
    lines = [
        f"Retrained {report.estimator} with seed {report.seed} on {report.train_rows:,} rows in "
        f"{report.fit_seconds:.1f} s; holdout {report.holdout_rows:,} rows{split}.",
        f"Replay logged as MLflow run {report.reproduce_run_id} in experiment {report.experiment} "
        "(registry and aliases untouched).",
        "",
        f"  {'metric':<20} {'recorded':>18} {'reproduced':>18} {'diff':>10}",
    ]
    for m in report.metrics:
        diff = "n/a" if m.diff is None else ("0" if m.diff == 0 else f"{m.diff:+.3g}")
        lines.append(f"  {m.name:<20} {num(m.recorded):>18} {num(m.reproduced):>18} {diff:>10}")
    p = report.predictions
    what = "labels" if p.method == "predict_proba" else "predictions"
    lines += [
        "",
        f"Predictions on the recorded holdout ({p.rows:,} rows): {p.differing:,} {what} differ, "
        f"max |{p.method} diff| {num(p.max_abs_diff, short=True)}",
        "",
    ]
    if report.identical:
        lines.append(
            f"IDENTICAL: {report.model} v{report.version} reproduces exactly ({len(report.metrics)} metrics, "
            f"{p.rows:,} predictions)."
        )
        if report.warnings:
            lines.append(
                f"  despite {len(report.warnings)} lineage warning(s) above: the result did not depend on them."
            )
    else:
        lines.append(f"DIFFERENT: {report.model} v{report.version} does not reproduce:")
        lines += [f"  - {d}" for d in report.differences()]
        lines.append("Possible causes:")
        lines += [f"  - {c}" for c in report.likely_causes()]
    return "\n".join(lines)


def render_incidents(model: str, incidents: list[dict[str, Any]], where: Any) -> str:
    """``mlops incidents``: one block per incident, newest first: when, what, what was done, how it ended."""
    if not incidents:
        return f"{model}: no incidents recorded (incident log: {where})"
    open_ = sum(1 for i in incidents if i["resolved_at"] is None)
    lines = [f"{model}: {len(incidents)} incident(s), {open_} open (incident log: {where})"]
    for i in reversed(incidents):
        state = f"resolved {i['resolved_at']}: {i['resolution']}" if i["resolved_at"] else "OPEN"
        again = f", seen {i['updates'] + 1} times, last {i['last_at']}" if i["updates"] else ""
        lines += [
            "",
            f"{i['opened_at']}  {i['kind']}  [{state}]  id {i['id']}{again}",
            f"  {i['summary']}",
        ]
        if i.get("action"):
            lines.append(f"  Next: {i['action']}")
    return "\n".join(lines)


def render_cost(
    model: str, now: Any, month: list[dict[str, Any]], recent: list[dict[str, Any]], hold: dict[str, Any] | None
) -> str:
    """``mlops cost``: the month by DAG and its projection, the budget hold if any, then the latest runs."""
    from mlops_provider.cost.history import by_dag
    from mlops_provider.cost.model import projection

    total = sum(float(r["metrics"].get("cost_usd_total", 0.0)) for r in month)
    lines = [
        f"{model}: {now:%Y-%m} to date ${total:,.4f} over {len(month)} run(s); "
        f"projected ${projection(total, now):,.2f} for the month"
    ]
    for dag, usd in by_dag(month):
        lines.append(f"  {dag:<28} ${usd:,.4f}")
    if hold:
        lines.append(
            f"Drift-triggered retraining HELD since {hold.get('since')}: {hold.get('month')} projected at "
            f"${float(hold.get('projected', 0)):,.2f}, over {hold.get('hold_at')} x the ${hold.get('budget')} budget "
            "(docs/cost.md, 'Budget exceeded')"
        )
    lines += ["", f"Latest {len(recent)} run(s):"]
    lines.append(f"  {'when':<25} {'DAG':<24} {'task s':>8} {'stored MB':>10} {'USD':>10} {'USD/1k pred':>11}  run")
    for r in recent:
        m = r["metrics"]
        per_1k = m.get("cost_usd_per_1k_predictions")
        lines.append(
            f"  {r['at']:<25} {r['dag_id']:<24} {m.get('cost_task_seconds', 0):>8.1f} "
            f"{m.get('cost_stored_bytes', 0) / 1e6:>10.2f} {m.get('cost_usd_total', 0):>10.6f} "
            f"{'' if per_1k is None else f'{per_1k:.6f}':>11}  {r['run_id']}"
        )
    return "\n".join(lines)


def render_status(rows: list[dict[str, Any]], unavailable: dict[str, str], *, detail: bool = False) -> str:
    """``mlops status``: one line per model (state, champion, last training, drift, cost) and its reasons; with
    ``detail`` (one model) also its versions, latest gates and recent training runs."""
    lines = []
    for r in rows:
        champ, train, drift, cost = r["champion"], r["last_training"], r["drift"], r["cost"]
        mark = "!!" if r["attention"] else "ok"
        parts = [
            f"{mark} {r['model']:<22} {r['health'].replace('_', ' '):<22}",
            f"champion v{champ['version']} {champ['metric']} {champ['value']:.4f}"
            if champ and champ["value"] is not None
            else (f"champion v{champ['version']}" if champ else "no champion"),
            f"trained {train['started_at']} {train['state']}" + (f" ({train['trigger']})" if train["trigger"] else "")
            if train
            else "never trained",
            f"drift {drift['share']:.0%}" if drift and drift["share"] is not None else "no drift check",
            f"${cost['month_to_date_usd']:,.2f} this month"
            + (f" of ${cost['budget_usd']:,.2f}" if cost["budget_usd"] is not None else ""),
        ]
        lines.append(" · ".join(parts))
        lines += [f"     - {reason}" for reason in r["reasons"]]
        if detail:
            lines.append(
                "   versions: " + (", ".join(f"{v['alias']} v{v['version']}" for v in r["versions"]) or "none")
            )
            if r["candidate"]:
                gates = r["candidate"]["gates"]
                failed = [g["gate"] for g in gates if not g.get("passed")]
                lines.append(
                    f"   latest candidate v{r['candidate']['version']}: {len(gates)} gate(s)"
                    + (f", failed {', '.join(failed)}" if failed else ", all passed")
                )
            for run in r["training_runs"][:5]:
                usd = "" if run["cost_usd"] is None else f" ${run['cost_usd']:.4f}"
                lines.append(f"   training {run['started_at']} {run['state']} ({run['trigger']}){usd}")
    for source, why in unavailable.items():
        lines.append(f"(not read: {source}: {why})")
    attention = [r["model"] for r in rows if r["attention"]]
    lines.append(
        f"{len(rows)} model(s); "
        + (f"{len(attention)} need attention: {', '.join(attention)}" if attention else "all fine")
    )
    return "\n".join(lines)
