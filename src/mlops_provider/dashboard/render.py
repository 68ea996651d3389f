"""HTML of the dashboard's pages, from the dicts :mod:`.health` builds (the same the JSON endpoints return).

Server-rendered tables, and charts drawn in the browser by plotly.js, served by the plugin itself
(``/mlops/static/plotly.min.js``, the copy bundled with the plotly package): no CDN, the page works offline.
Every value is escaped; numbers a test or a person checks carry ``data-field`` attributes.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import quote

from mlops_provider.dashboard.health import BY_NAME
from mlops_provider.naming import TRIAL_ALIASES

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.2rem;color:#1f2933;background:#fff}
h1{font-size:1.4rem;margin:0 0 .3rem}h2{font-size:1.1rem;margin:1.4rem 0 .4rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{padding:.35rem .5rem;border-bottom:1px solid #e4e7eb;
text-align:left;vertical-align:top}th{background:#f5f7fa;font-weight:600}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:1rem;font-size:.8rem;font-weight:600;color:#fff}
.healthy{background:#2f855a}.canary,.retraining,.new{background:#3182ce}.drifting,.awaiting_approval{background:#d69e2e}
.degraded,.circuit_breaker_open,.over_budget{background:#c53030}
.muted{color:#7b8794;font-size:.85rem}.reasons{margin:.2rem 0 0;padding-left:1.1rem;font-size:.82rem;color:#52606d}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:1rem}.grid>div{min-width:0}
.chart{height:300px;width:100%}
.warn{background:#fffbea;border:1px solid #f0b429;padding:.5rem .8rem;margin:.6rem 0;font-size:.88rem}
a{color:#2b6cb0}.pass{color:#2f855a;font-weight:600}.fail{color:#c53030;font-weight:600}
"""


DASH = "&#8211;"  # shown where there is no value


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _num(value: Any, digits: int = 4) -> str:
    return DASH if value is None else f"{value:.{digits}f}" if isinstance(value, float) else _e(value)


def _usd(value: Any) -> str:
    if value is None:
        return DASH
    return f"${value:,.2f}" if abs(value) >= 1 or value == 0 else f"${value:.4f}"


def _when(value: Any) -> str:
    """An ISO time as ``2026-11-27 19:56 UTC`` (the full value in the title)."""
    if not value:
        return DASH
    from mlops_provider.dashboard.health import _ts

    parsed = _ts(str(value))
    if parsed is None:
        return _e(value)
    return f'<time datetime="{_e(value)}" title="{_e(value)}">{parsed:%Y-%m-%d %H:%M} UTC</time>'


def _dur(seconds: Any) -> str:
    if seconds is None:
        return DASH
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _verdict(drifted: bool | None) -> str:
    return "?" if drifted is None else "drifted" if drifted else "ok"


def _link(url: str | None, text: str) -> str:
    return f'<a href="{_e(url)}" target="_top">{_e(text)}</a>' if url else _e(text)


def _badge(state: str) -> str:
    meaning = BY_NAME[state].meaning if state in BY_NAME else ""
    return f'<span class="badge {_e(state)}" title="{_e(meaning)}">{_e(state.replace("_", " "))}</span>'


def _page(title: str, body: str, prefix: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{STYLE}</style>'
        f'<script src="{_e(prefix)}/static/plotly.min.js"></script></head><body>{body}</body></html>'
    )


def _chart(div: str, data: list[dict[str, Any]], layout: dict[str, Any]) -> str:
    layout = {"margin": {"l": 50, "r": 20, "t": 30, "b": 50}, "font": {"size": 11}, **layout}
    spec = json.dumps({"data": data, "layout": layout}).replace("</", "<\\/")
    return (
        # drawn once the whole page is laid out: a chart drawn earlier takes the width its grid cell had then
        f'<div><div id="{div}" class="chart"></div><script>document.addEventListener("DOMContentLoaded",function()'
        f'{{var s={spec};Plotly.newPlot("{div}",s.data,s.layout,{{displaylogo:false,responsive:true}});}});</script>'
        "</div>"
    )


def _unavailable(sources: dict[str, str]) -> str:
    if not sources:
        return ""
    items = "".join(f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in sources.items())
    return f'<div class="warn" data-field="unavailable">Not everything could be read:<ul>{items}</ul></div>'


def overview_html(data: dict[str, Any], prefix: str) -> str:
    rows = []
    for m in data["models"]:
        champ, train, drift, cost = m["champion"], m["last_training"], m["drift"], m["cost"]
        reasons = "".join(f"<li>{_e(r)}</li>" for r in m["reasons"])
        budget = f" of {_usd(cost['budget_usd'])}" if cost["budget_usd"] is not None else ""
        rows.append(
            f'<tr data-model="{_e(m["model"])}">'
            f'<td><a href="{_e(prefix)}/models/{quote(m["model"])}">{_e(m["model"])}</a>'
            f'<div class="muted">{_e(m["description"])}</div></td>'
            f'<td data-field="health" data-value="{_e(m["health"])}">{_badge(m["health"])}'
            + (f'<ul class="reasons">{reasons}</ul>' if reasons else "")
            + "</td>"
            f'<td data-field="champion">{"v" + _e(champ["version"]) if champ else DASH}</td>'
            f'<td data-field="metric">{_e(champ["metric"]) + " " + _num(champ["value"]) if champ else DASH}</td>'
            + (
                f'<td data-field="training">{_link(train["url"], train["state"] or "?")} '
                f'<div class="muted">{_when(train["started_at"])} · {_dur(train["duration_s"])} · '
                f"{_e(train['trigger'] or 'trigger unknown')}</div></td>"
                if train
                else '<td data-field="training">never</td>'
            )
            + (
                f'<td data-field="drift" data-value="{_num(drift["share"])}">{_num(drift["share"], 2)}'
                f'<div class="muted">{_when(drift["at"])}</div></td>'
                if drift
                else '<td data-field="drift">no check</td>'
            )
            + f'<td data-field="cost" data-value="{cost["month_to_date_usd"]}">{_usd(cost["month_to_date_usd"])}'
            f'{budget}<div class="muted">projected {_usd(cost["projected_usd"])}</div></td></tr>'
        )
    names = [m["model"] for m in data["models"]]
    chart = _chart(
        "cost-chart",
        [
            {
                "type": "bar",
                "name": "month to date",
                "x": names,
                "y": [m["cost"]["month_to_date_usd"] for m in data["models"]],
            },
            {"type": "bar", "name": "projected", "x": names, "y": [m["cost"]["projected_usd"] for m in data["models"]]},
            {
                "type": "scatter",
                "mode": "markers",
                "name": "budget",
                "marker": {"symbol": "line-ew-open", "size": 24, "color": "#c53030"},
                "x": names,
                "y": [m["cost"]["budget_usd"] for m in data["models"]],
            },
        ],
        {"title": {"text": "Cost this month (USD)"}, "barmode": "group"},
    )
    attention = len(data["attention"])
    errors = "".join(f"<li>{_e(e)}</li>" for e in data["config_errors"])
    body = (
        f'<h1>MLOps models</h1><p class="muted">{len(names)} model(s), {attention} need attention · '
        f'read at <span data-field="read_at">{_e(data["read_at"])}</span> (at most a minute old)</p>'
        + _unavailable(data["unavailable"])
        + (f'<div class="warn">Broken configs (their models are not shown):<ul>{errors}</ul></div>' if errors else "")
        + '<table id="models"><thead><tr><th>model</th><th>health</th><th>champion</th><th>primary metric</th>'
        "<th>last training</th><th>drift share</th><th>cost this month</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        + (chart if names else "<p>No model configs found in the configs folder.</p>")
    )
    return _page("MLOps models", body, prefix)


def model_html(data: dict[str, Any], prefix: str) -> str:
    model = data["model"]
    mq = quote(model)
    versions = "".join(
        f'<tr data-alias="{_e(v["alias"])}"><td>{_e(v["alias"])}</td><td data-field="version">v{_e(v["version"])}</td>'
        f'<td data-field="metric">{_e(v["metric"])} {_num(v["value"])}</td><td>{_when(v["created_at"])}</td>'
        f"<td>{_when(v['promoted_at'])}</td>"
        f'<td><a href="{_e(prefix)}/api/models/{mq}/versions/{quote(v["version"])}/lineage">lineage</a></td></tr>'
        for v in data["versions"]
    )
    cand = data["candidate"]
    gates = ""
    if cand:
        gates = "".join(
            f'<tr data-gate="{_e(g.get("gate"))}"><td>{_e(g.get("gate"))}</td><td>{_num(g.get("value"))}</td>'
            f"<td>{_num(g.get('threshold'))}</td><td>{_e(g.get('severity'))}</td>"
            f'<td class="{"pass" if g.get("passed") else "fail"}">{"passed" if g.get("passed") else "FAILED"}</td></tr>'
            for g in cand["gates"]
        )
    history = data["drift_history"]
    drift_chart = _chart(
        "drift-chart",
        [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "drift share",
                "x": [c["at"] for c in history],
                "y": [c["drift_share"] for c in history],
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": "drift_share threshold",
                "line": {"dash": "dot", "color": "#c53030"},
                "x": [history[0]["at"], history[-1]["at"]] if history else [],
                "y": [data["drift_threshold"]] * 2 if history else [],
            },
        ],
        {"title": {"text": "Share of drifted features per check"}, "yaxis": {"range": [0, 1]}},
    )
    latest = data["drift_features"]
    feature_rows, feature_chart = "", ""
    if latest:
        feats = latest["features"]
        feature_rows = "".join(
            f'<tr data-feature="{_e(f["feature"])}"><td>{_e(f["feature"])}</td><td>{_num(f["score"])}</td>'
            f"<td>{_num(f['threshold'])}</td><td>{_verdict(f['drifted'])}</td></tr>"
            for f in feats
        )
        feature_chart = _chart(
            "feature-chart",
            [
                {
                    "type": "bar",
                    "x": [f["feature"] for f in feats],
                    "y": [f["score"] for f in feats],
                    "marker": {"color": ["#c53030" if f["drifted"] else "#3182ce" for f in feats]},
                }
            ],
            {"title": {"text": f"Feature drift scores, check of {latest['at']}"}},
        )
    deploy = data["deployments"]
    weekly_chart = _chart(
        "deploy-chart",
        [
            {
                "type": "bar",
                "x": [w["week"] for w in deploy["per_week"]],
                "y": [w["promotions"] for w in deploy["per_week"]],
            }
        ],
        {
            "title": {"text": "Promotions per week (weeks starting Monday)"},
            "xaxis": {"type": "category"},
            "yaxis": {"dtick": 1, "rangemode": "tozero"},
        },
    )
    leads = "".join(
        f"<tr><td>v{_e(x['version'])}</td><td>{_when(x['drift_at'])}</td><td>{_when(x['promoted_at'])}</td>"
        f'<td data-field="lead_hours">{x["hours"]:.2f} h</td></tr>'
        for x in deploy["lead_times"]
    )
    runs = list(reversed(data["training_runs"][:50]))  # oldest first, one bar per run
    labels = [f"{(r['started_at'] or '?')[5:16].replace('T', ' ')} ({r['trigger']})" for r in runs]
    runs_chart = _chart(
        "training-chart",
        [
            {
                "type": "bar",
                "name": "duration (min)",
                "x": labels,
                "y": [None if r["duration_s"] is None else r["duration_s"] / 60 for r in runs],
            },
            {
                "type": "scatter",
                "mode": "markers",
                "name": "cost (USD)",
                "yaxis": "y2",
                "x": labels,
                "y": [r["cost_usd"] for r in runs],
            },
        ],
        {
            "title": {"text": "Training runs: duration and cost"},
            "xaxis": {"type": "category"},
            "yaxis": {"title": {"text": "minutes"}, "rangemode": "tozero"},
            "yaxis2": {"title": {"text": "USD"}, "overlaying": "y", "side": "right", "rangemode": "tozero"},
        },
    )
    run_rows = "".join(
        f'<tr data-run="{_e(r["run_id"])}"><td>{_link(r["url"], r["run_id"] or "?")}</td><td>{_e(r["state"])}</td>'
        f"<td>{_e(r['trigger'])}</td><td>{_when(r['started_at'])}</td><td>{_dur(r['duration_s'])}</td>"
        f"<td>{_usd(r['cost_usd'])}</td></tr>"
        for r in reversed(runs)
    )
    incidents = "".join(
        f"<tr><td>{_when(i['opened_at'])}</td><td>{_e(i['kind'])}</td><td>{_e(i['summary'])}</td>"
        f"<td>{_when(i['resolved_at']) if i['resolved_at'] else 'open'}</td><td>{_e(i['resolution'] or '')}</td></tr>"
        for i in data["incidents"][:100]
    )
    trial = data["trial"]
    trial_html = "<p>No trial recorded.</p>"
    if trial:
        outcome = trial.get("outcome") or (
            "under way" if any(v["alias"] in TRIAL_ALIASES.values() for v in data["versions"]) else "?"
        )
        window = trial.get("window") or {}
        trial_gates = "".join(
            f'<tr data-gate="{_e(g.get("gate"))}"><td>{_e(g.get("gate"))}</td><td>{_num(g.get("value"))}</td>'
            f"<td>{_num(g.get('threshold'))}</td>"
            f'<td class="{"pass" if g.get("passed") else "fail"}">{"passed" if g.get("passed") else "FAILED"}</td>'
            f'<td class="muted">{_e(g.get("detail"))}</td></tr>'
            for g in trial.get("gates") or []
        )
        trial_html = (
            f'<p data-field="trial">v{_e(trial["version"])} · {_e(trial.get("strategy"))} against champion '
            f"v{_e(trial.get('champion'))} · <b>{_e(outcome)}</b> · started {_when(trial.get('started_at'))}"
            + (f" · {_e(window.get('rows'))} rows in {_e(window.get('runs'))} run(s)" if window else "")
            + "</p>"
            + (
                '<table id="trial-gates"><thead><tr><th>gate</th><th>value</th><th>threshold</th><th>verdict</th>'
                f"<th>detail</th></tr></thead><tbody>{trial_gates}</tbody></table>"
                if trial_gates
                else ""
            )
        )
    report = (
        f' · <a href="{_e(prefix)}/models/{mq}/drift-report/{quote(latest["mlflow_run_id"])}">latest drift report</a>'
        if latest
        else ""
    )
    row_cost = data["cost"]
    body = (
        f'<p><a href="{_e(prefix)}/">← all models</a></p><h1 data-model="{_e(model)}">{_e(model)} '
        f'<span data-field="health" data-value="{_e(data["health"])}">{_badge(data["health"])}</span></h1>'
        f'<p class="muted">{_e(data["description"])} · deploy: {_e(data["deploy"])} · read at {_e(data["read_at"])}'
        f"{report}</p>"
        + (
            '<ul class="reasons">' + "".join(f"<li>{_e(r)}</li>" for r in data["reasons"]) + "</ul>"
            if data["reasons"]
            else ""
        )
        + _unavailable(data["unavailable"])
        + '<h2>Versions</h2><table id="versions"><thead><tr><th>alias</th><th>version</th><th>primary metric</th>'
        "<th>registered</th><th>promoted</th><th></th></tr></thead><tbody>"
        + (versions or '<tr><td colspan="6">No version has an alias yet.</td></tr>')
        + "</tbody></table>"
        + (
            f'<h2>Gates of the latest candidate (v{_e(cand["version"])})</h2><table id="gates"><thead><tr><th>gate</th>'
            "<th>value</th><th>threshold</th><th>severity</th><th>verdict</th></tr></thead><tbody>"
            + (gates or '<tr><td colspan="5">No gate results recorded.</td></tr>')
            + "</tbody></table>"
            if cand
            else ""
        )
        + "<h2>Trial</h2>"
        + trial_html
        + '<h2>Drift</h2><div class="grid">'
        + drift_chart
        + feature_chart
        + "</div>"
        + (
            '<table id="features"><thead><tr><th>feature</th><th>score</th><th>threshold</th><th>verdict</th></tr>'
            f"</thead><tbody>{feature_rows}</tbody></table>"
            if feature_rows
            else "<p>No drift check yet.</p>"
        )
        + '<h2>Deployments</h2><div class="grid">'
        + weekly_chart
        + "<div><h3>Lead time: drift detected → new champion</h3>"
        + (
            '<table id="lead-times"><thead><tr><th>version</th><th>drift found</th><th>champion</th><th>lead time</th>'
            f"</tr></thead><tbody>{leads}</tbody></table>"
            if leads
            else "<p>No drift-led promotion yet.</p>"
        )
        + "</div></div>"
        + "<h2>Training and cost</h2>"
        + f'<p>This month: <span data-field="cost">{_usd(row_cost["month_to_date_usd"])}</span>'
        + (f" of {_usd(row_cost['budget_usd'])}" if row_cost["budget_usd"] is not None else " (no budget)")
        + f", projected {_usd(row_cost['projected_usd'])}.</p>"
        + runs_chart
        + '<table id="training-runs"><thead><tr><th>run</th><th>state</th><th>trigger</th><th>started</th>'
        f"<th>duration</th><th>cost</th></tr></thead><tbody>{run_rows}</tbody></table>"
        + '<h2>Incidents</h2><table id="incidents"><thead><tr><th>opened</th><th>kind</th><th>summary</th>'
        "<th>resolved</th><th>resolution</th></tr></thead><tbody>"
        + (incidents or '<tr><td colspan="5">None.</td></tr>')
        + "</tbody></table>"
    )
    return _page(f"{model} · MLOps", body, prefix)
