"""What the dashboard reads from Airflow: recent DAG runs and pending approvals, through the public REST API.

Never the metadata database: the page runs inside the api-server, ``mlops status`` in a terminal, and both ask
the same endpoints with the caller's own credentials, so a user sees only what Airflow lets them see.

* ``POST /api/v2/dags/~/dagRuns/list``: the model DAGs' recent runs, in pages of :data:`PAGE`.
* ``GET /api/v2/dags/~/dagRuns/~/hitlDetails?response_received=false``: approvals waiting for a person.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

#: How far back the runs go: the overview needs each DAG's latest runs, the model page a month of history. A model
#: whose DAGs did not run within the overview's days shows its last training from MLflow instead.
OVERVIEW_DAYS = 7
MODEL_PAGE_DAYS = 30
PAGE = 1000
MAX_PAGES = 10
TIMEOUT_S = 10.0


class AirflowUnavailable(Exception):
    """The REST API could not be asked (no credentials, refused, timed out, 401/403); the message says which."""


@dataclass
class AirflowApi:
    """The REST API at ``base_url`` with a bearer ``token`` (the caller's JWT)."""

    base_url: str
    token: str | None

    def _call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        if not self.token:
            raise AirflowUnavailable("no Airflow API credentials")
        request = urllib.request.Request(
            self.base_url.rstrip("/") + path,
            data=json.dumps(body).encode() if body is not None else None,
            method="POST" if body is not None else "GET",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise AirflowUnavailable(f"Airflow API {path.split('?')[0]} answered {exc.code}") from None
        except (OSError, ValueError) as exc:
            raise AirflowUnavailable(f"Airflow API at {self.base_url} not reached: {exc}") from None

    def runs(self, dag_ids: Sequence[str], days: int, now: datetime | None = None) -> list[dict[str, Any]]:
        """The runs of ``dag_ids`` that started in the last ``days`` days (by when they ran, not by their logical
        date: a backfill of past days run today counts), newest first, then the queued ones: the API's DAGRun
        objects (dag_id, dag_run_id, run_type, state, start_date, end_date, ...), at most
        :data:`PAGE` x :data:`MAX_PAGES`."""
        if not dag_ids:
            return []
        since = (now or datetime.now(UTC)) - timedelta(days=days)
        out = self._pages({"dag_ids": list(dag_ids), "start_date_gte": since.isoformat(), "order_by": "-start_date"})
        out += self._pages({"dag_ids": list(dag_ids), "states": ["queued"], "order_by": "-run_after"})
        return out

    def _pages(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for page in range(MAX_PAGES):
            found = self._call("/api/v2/dags/~/dagRuns/list", {**body, "page_limit": PAGE, "page_offset": page * PAGE})
            out += found.get("dag_runs", [])
            if len(out) >= int(found.get("total_entries", 0)) or not found.get("dag_runs"):
                break
        return out

    def pending_approvals(self) -> list[dict[str, Any]]:
        """Human-in-the-loop requests nobody has answered yet: ``{"dag_id", "run_id", "task_id", "subject",
        "created_at"}`` each."""
        found = self._call("/api/v2/dags/~/dagRuns/~/hitlDetails?response_received=false&limit=1000")
        out = []
        for detail in found.get("hitl_details", []):
            ti = detail.get("task_instance") or {}
            if ti.get("state") not in (None, "deferred"):  # answered meanwhile, or the try ended (timed out)
                continue
            out.append(
                {
                    "dag_id": ti.get("dag_id"),
                    "run_id": ti.get("dag_run_id"),
                    "task_id": ti.get("task_id"),
                    "subject": detail.get("subject"),
                    "created_at": detail.get("created_at"),
                }
            )
        return out


def token_for(base_url: str, username: str, password: str) -> str:
    """A JWT from the auth manager's token endpoint (``POST /auth/token``), for ``mlops status``."""
    request = urllib.request.Request(
        base_url.rstrip("/") + "/auth/token",
        data=json.dumps({"username": username, "password": password}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return str(json.loads(response.read())["access_token"])
    except urllib.error.HTTPError as exc:
        raise AirflowUnavailable(f"Airflow at {base_url} refused the credentials ({exc.code})") from None
    except (OSError, ValueError, KeyError) as exc:
        raise AirflowUnavailable(f"Airflow API at {base_url} not reached: {exc}") from None
