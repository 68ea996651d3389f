"""What the dashboard reads of the registry, for any number of models in two searches; mixed into
``ModelRegistry``. Reads only: every alias move stays in :mod:`mlops_provider.hooks.registry`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_provider.naming import (
    BUDGET_HOLD_TAG,
    COST_MONTH_TAG,
    DRIFT_EPISODE_TAG,
    GATES_TAG,
    METRICS_TAG,
    PROMOTION_TAG,
    TRIAL_TAG,
    VERSION_RUN_TAG,
)


class OverviewReads:
    """Registered models with their aliases, ``mlops.*`` records and versions, as the dashboard shows them."""

    if TYPE_CHECKING:
        client: Any

    def overview(self, name: str) -> dict[str, Any] | None:
        """What the dashboard shows of ``name`` (see :meth:`overview_many`); None when it is not registered."""
        return self.overview_many([name]).get(name)

    def overview_many(self, names: list[str]) -> dict[str, dict[str, Any]]:
        """What the dashboard shows of each registered model of ``names``, in two registry searches whatever their
        number: ``{"aliases": {alias: version}, "drift_episode", "budget_hold", "month_cost", "versions"}``, the
        versions newest first, each with its aliases, when it was registered, its run, and its ``mlops.*``
        records (metrics, gates, trial, promotions) parsed. Models not registered are absent."""
        wanted = set(names)
        if not wanted:
            return {}
        quoted = ", ".join("'" + n.replace("'", "\\'") + "'" for n in sorted(wanted))
        models = {m.name: m for m in _all_pages(self.client.search_registered_models, f"name IN ({quoted})")}
        out: dict[str, dict[str, Any]] = {}
        for name, model in models.items():
            if name not in wanted:
                continue
            tags = model.tags or {}
            out[name] = {
                "aliases": {str(a): str(v) for a, v in (getattr(model, "aliases", None) or {}).items()},
                "drift_episode": parsed_tag(tags.get(DRIFT_EPISODE_TAG)),
                "budget_hold": parsed_tag(tags.get(BUDGET_HOLD_TAG)),
                "month_cost": parsed_tag(tags.get(COST_MONTH_TAG)),
                "versions": [],
            }
        for mv in _all_pages(self.client.search_model_versions, f"name IN ({quoted})"):
            entry = out.get(mv.name)
            if entry is None:
                continue
            vtags = dict(mv.tags or {})
            entry["versions"].append(
                {
                    "version": str(mv.version),
                    "aliases": sorted(a for a, v in entry["aliases"].items() if v == str(mv.version)),
                    "created_at": iso_ms(mv.creation_timestamp),
                    "run_id": mv.run_id,
                    "airflow_run_id": vtags.get(VERSION_RUN_TAG),
                    "metrics": parsed_tag(vtags.get(METRICS_TAG)) or {},
                    "gates": parsed_tag(vtags.get(GATES_TAG)) or [],
                    "trial": parsed_tag(vtags.get(TRIAL_TAG)),
                    "promotions": parsed_tag(vtags.get(PROMOTION_TAG)) or [],
                }
            )
        for entry in out.values():
            entry["versions"].sort(key=lambda v: -int(v["version"]))
        return out


def _all_pages(search: Callable[..., Any], filter_string: str) -> Iterator[Any]:
    """Every result of an MLflow registry search, page after page."""
    token = None
    while True:
        page = search(filter_string=filter_string, max_results=1000, page_token=token)
        yield from page
        token = getattr(page, "token", None)
        if not token:
            return


def iso_ms(ms: int | None) -> str | None:
    """An MLflow timestamp (ms since the epoch) as ISO time in UTC, to the second; None for none."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds") if ms else None


def parsed_tag(text: str | None) -> Any:
    """A JSON tag's value; None when absent or unreadable (readers show what they can)."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
