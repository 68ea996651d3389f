"""The embedded stack: Airflow (SQLite, warm LocalExecutor) + MLflow (SQLite, local artifacts) in one folder.

Layout of the state folder (default ``.mlops/``, or ``$MLOPS_HOME``)::

    airflow/            AIRFLOW_HOME: airflow.cfg, airflow.db, logs, the admin password file
    mlflow.db           MLflow tracking store and model registry
    artifacts/          MLflow artifacts and training snapshots
    data/               example data (labeled partitions, daily current data)
    logs/<process>.log  output of the Airflow processes started here
    pids/<process>.pid  their process ids (``stop`` kills these and nothing else)
    outbox.jsonl        alerts, when no Slack connection is configured
    env.sh              ``source`` it to use this stack from a shell (airflow, mlops, mlflow on PATH)

Used by ``make demo`` / ``make stop`` and by the end-to-end tests.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROCESSES = ("scheduler", "dag-processor", "triggerer", "api-server")
ADMIN_USER = "admin"


@dataclass
class Stack:
    home: Path
    dags_folder: Path
    port: int = 28080
    # LocalExecutor whose workers import pandas, scikit-learn, MLflow and GX once, not once per task
    executor: str = "mlops_provider.executors.local.WarmLocalExecutor"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def password_file(self) -> Path:
        return self.airflow_home / "simple_auth_manager_passwords.json"

    @property
    def mlflow_uri(self) -> str:
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    @property
    def processes(self) -> tuple[str, ...]:
        """The long-running processes this stack starts (``start``) and stops (``stop``), by name."""
        return PROCESSES

    def command(self, name: str) -> list[str]:
        """The command line of the process ``name``."""
        return ["airflow", name] + (["--port", str(self.port)] if name == "api-server" else [])

    def process_env(self, name: str) -> dict[str, str]:
        """The environment of the process ``name``: the stack's own."""
        return self.env()

    def env(self) -> dict[str, str]:
        """Environment every Airflow process and CLI call of this stack runs with."""
        bin_dir = str(Path(sys.executable).parent)
        return {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), **self.settings()}

    def settings(self) -> dict[str, str]:
        """The variables this stack sets (beside ``PATH``): Airflow's, the connection, the libraries'."""
        return dict(
            {
                "AIRFLOW_HOME": str(self.airflow_home.resolve()),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder.resolve()),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": self.executor,
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.password_file.resolve()),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                # An idle scheduler loop sleeps this long (default 1 s) before it looks for finished tasks again:
                # 0.2 s cuts the gap between two tasks from about 0.5 s to about 0.2 s (a 6-task training run: -2 s)
                # for about 0.06 of a core more while idle (docs/benchmarks.md).
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "AIRFLOW__MLOPS__DATA_ROOT": str((self.home / "data").resolve()),
                "AIRFLOW__MLOPS__OUTBOX_PATH": str((self.home / "outbox.jsonl").resolve()),
                "AIRFLOW__MLOPS__INCIDENTS_PATH": str((self.home / "incidents.jsonl").resolve()),
                "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps(
                    {
                        "conn_type": "mlflow",
                        "extra": {
                            "tracking_uri": self.mlflow_uri,
                            "artifact_root": str((self.home / "artifacts").resolve()),
                        },
                    }
                ),
                "GX_ANALYTICS_ENABLED": "false",
                "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
            }
        )

    @property
    def env_file(self) -> Path:
        return self.home / "env.sh"

    def write_env_file(self) -> Path:
        """``env.sh``: the stack's settings as shell exports, so ``airflow``, ``mlops`` and ``mlflow`` typed in a
        shell talk to this stack (and never create ``~/airflow``)."""
        import shlex

        bin_dir = str(Path(sys.executable).parent)
        own = self.settings()  # all of them, whatever the calling shell already has (it may have sourced this)
        own["MLOPS_HOME"] = str(self.home.resolve())
        own["MLFLOW_TRACKING_URI"] = self.mlflow_uri
        if self.password_file.exists():  # `mlops status` asks Airflow's REST API as this user
            own["AIRFLOW_API_USER"], own["AIRFLOW_API_PASSWORD"] = ADMIN_USER, self.password()
        lines = [
            "# The embedded stack of airflow-provider-mlops, written by `make demo`.",
            f"# Use it from a shell: source {self.env_file}",
            f'export PATH={shlex.quote(bin_dir)}:"$PATH"',
            *(f"export {k}={shlex.quote(v)}" for k, v in sorted(own.items())),
        ]
        self.env_file.write_text("\n".join(lines) + "\n")
        return self.env_file

    # -- lifecycle -----------------------------------------------------------------------------------

    def airflow(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run an ``airflow`` CLI command against this stack."""
        return subprocess.run(
            ["airflow", *args], env=self.env(), capture_output=True, text=True, timeout=timeout, check=check
        )

    def init(self) -> None:
        for sub in ("airflow", "logs", "pids", "data", "artifacts"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        if not self.password_file.exists():
            self.password_file.write_text(json.dumps({ADMIN_USER: secrets.token_urlsafe(12)}))
        self.airflow("db", "migrate", timeout=600)
        self.write_env_file()
        if not (self.home / "mlflow.db").exists():
            # The one place a store is created on purpose: the connection itself never creates a missing one.
            from mlflow.tracking import MlflowClient

            MlflowClient(tracking_uri=self.mlflow_uri, registry_uri=self.mlflow_uri).search_experiments(max_results=1)

    def password(self, user: str = ADMIN_USER) -> str:
        return str(json.loads(self.password_file.read_text())[user])

    def running(self) -> dict[str, int]:
        out = {}
        for name in self.processes:
            pid_file = self.home / "pids" / f"{name}.pid"
            if not pid_file.exists():
                continue
            pid = int(pid_file.read_text())
            try:  # a child of this process that exited stays a zombie (alive to kill -0) until reaped
                os.waitpid(pid, os.WNOHANG)
            except (ChildProcessError, OSError):
                pass
            try:
                os.kill(pid, 0)
            except OSError:
                pid_file.unlink(missing_ok=True)
                continue
            out[name] = pid
        return out

    def start(self, processes: tuple[str, ...] | None = None) -> None:
        running = self.running()
        for name in self.processes if processes is None else processes:
            if name in running:
                continue
            log = (self.home / "logs" / f"{name}.log").open("ab")
            proc = subprocess.Popen(
                self.command(name),
                env=self.process_env(name),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            (self.home / "pids" / f"{name}.pid").write_text(str(proc.pid))

    def stop(self, timeout: float = 10, processes: tuple[str, ...] | None = None) -> list[str]:
        """Stop the stack's processes (or only ``processes``): SIGTERM to each one's process group, SIGKILL to
        what is still running after ``timeout`` seconds."""
        names = self.processes if processes is None else processes
        stopped = []
        for name, pid in self.running().items():
            if name not in names:
                continue
            try:
                os.killpg(pid, signal.SIGTERM)
            except OSError:
                continue
            stopped.append(name)
        deadline = time.monotonic() + timeout
        while set(self.running()) & set(names) and time.monotonic() < deadline:
            time.sleep(0.5)
        for name, pid in self.running().items():
            if name not in names:
                continue
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        for name in names:
            (self.home / "pids" / f"{name}.pid").unlink(missing_ok=True)
        return stopped

    def kill(self, name: str) -> None:
        """SIGKILL the process ``name`` and everything it started (its process group): a machine that died."""
        pid = self.running().get(name)
        if pid is None:
            raise RuntimeError(f"{name} is not running")
        os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while name in self.running() and time.monotonic() < deadline:
            time.sleep(0.2)

    # -- REST API ------------------------------------------------------------------------------------

    def wait_ready(self, timeout: float = 180, component: str = "scheduler") -> None:
        """Wait until the API server's health check reports ``component`` healthy (the scheduler by default;
        ``metadatabase`` when only the API server runs)."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=5) as resp:
                    health = json.loads(resp.read())
                if health.get(component, {}).get("status") == "healthy":
                    return
                last = json.dumps(health)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last = str(exc)
            time.sleep(2)
        raise TimeoutError(
            f"Airflow at {self.api_url} not healthy after {timeout:.0f} s ({last}); see {self.home / 'logs'}"
        )

    def token(self, user: str = ADMIN_USER) -> str:
        body = json.dumps({"username": user, "password": self.password(user)}).encode()
        req = urllib.request.Request(
            f"{self.api_url}/auth/token",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return str(json.loads(resp.read())["access_token"])

    def api(self, path: str, token: str | None = None, *, method: str = "GET", body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {token or self.token()}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(
            f"{self.api_url}/api/v2/{path.lstrip('/')}",
            data=None if body is None else json.dumps(body).encode(),
            headers=headers,
            method=method,
        )
        for attempt in range(5):
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                if exc.code == 503 and attempt < 4:  # SQLite busy under the scheduler's writes: try again
                    time.sleep(2)
                    continue
                detail = exc.read().decode(errors="replace")[:500]
                raise urllib.error.HTTPError(exc.url, exc.code, f"{exc.msg}: {detail}", exc.headers, None) from None
        raise AssertionError("unreachable")

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        token = self.token()
        while time.monotonic() < deadline:
            try:
                self.api(f"dags/{dag_id}", token)
                return
            except urllib.error.HTTPError:
                time.sleep(2)
        raise TimeoutError(f"DAG {dag_id} not parsed after {timeout:.0f} s; see {self.home / 'logs'}")

    def trigger(self, dag_id: str, logical_date: str | None = None, conf: dict[str, Any] | None = None) -> str:
        self.airflow("dags", "unpause", dag_id)
        when = ["--logical-date", logical_date] if logical_date else []
        with_conf = ["--conf", json.dumps(conf)] if conf else []
        out = self.airflow("dags", "trigger", dag_id, *when, *with_conf, "--output", "json").stdout
        # the CLI logs to stdout too: the result is the line that is a JSON list
        line = next(ln for ln in reversed(out.splitlines()) if ln.startswith("[{"))
        return str(json.loads(line)[0]["dag_run_id"])

    def pause(self, dag_id: str) -> None:
        self.airflow("dags", "pause", dag_id)

    def backfill(self, dag_id: str, first: str, last: str, timeout: float = 900) -> list[dict[str, Any]]:
        """Run ``dag_id`` for its schedule's times from ``first`` to ``last`` (inclusive; ISO dates or times),
        re-running times that already ran: what ``airflow backfill create --reprocess-behavior completed``
        does. Waits for the backfill to finish; returns its runs, oldest first."""
        self.airflow("dags", "unpause", dag_id)
        body = {
            "dag_id": dag_id,
            "from_date": first,
            "to_date": last,
            "reprocess_behavior": "completed",
            "max_active_runs": 4,
        }
        deadline = time.monotonic() + timeout
        backfill = self._create_backfill(body, deadline)
        while self.api(f"backfills/{backfill['id']}").get("completed_at") is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"backfill {backfill['id']} of {dag_id} not finished after {timeout:.0f} s")
            time.sleep(3)
        import urllib.parse

        since = urllib.parse.quote(str(backfill["from_date"]), safe="")
        until = urllib.parse.quote(str(backfill["to_date"]), safe="")
        runs = self.api(
            f"dags/{dag_id}/dagRuns?run_type=backfill&logical_date_gte={since}&logical_date_lte={until}&limit=100"
        )["dag_runs"]
        unfinished = [r["dag_run_id"] for r in runs if r["state"] not in ("success", "failed")]
        if unfinished or not runs:
            raise RuntimeError(
                f"backfill {backfill['id']} of {dag_id} finished, but its runs are {unfinished or 'missing'}: a run "
                "of an earlier, interrupted backfill may still be queued (see the Airflow UI, Browse → Backfills)"
            )
        return sorted(runs, key=lambda r: str(r["logical_date"]))

    def _create_backfill(self, body: dict[str, Any], deadline: float) -> dict[str, Any]:
        """POST the backfill. A 409 means one is still open for the DAG: either ours, made by a POST that the
        API answered 503 after committing (then retried), or an earlier one the scheduler has not yet closed.
        Ours (same dates) is adopted; another is waited for, then the POST is made again."""
        import urllib.parse
        from datetime import datetime

        def same(a: Any, b: Any) -> bool:
            return datetime.fromisoformat(str(a).replace("Z", "+00:00")) == datetime.fromisoformat(
                str(b).replace("Z", "+00:00")
            )

        from datetime import UTC

        asked = datetime.now(UTC)
        while True:
            try:
                return dict(self.api("backfills", method="POST", body=body))
            except urllib.error.HTTPError as exc:
                if exc.code != 409 or time.monotonic() > deadline:
                    raise
            dag = urllib.parse.quote(body["dag_id"], safe="")
            open_ = [b for b in self.api(f"backfills?dag_id={dag}&limit=100")["backfills"] if not b.get("completed_at")]
            for b in open_:  # ours only if made after we asked: an earlier backfill of the same days is waited for
                created = datetime.fromisoformat(str(b.get("created_at", "")).replace("Z", "+00:00") or "1970-01-01")
                if created >= asked and same(b["from_date"], body["from_date"]) and same(b["to_date"], body["to_date"]):
                    return dict(b)
            time.sleep(3)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 900, on_progress: Any = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        token, token_at = self.token(), time.monotonic()
        import urllib.parse

        quoted = urllib.parse.quote(run_id, safe="")
        while time.monotonic() < deadline:
            if time.monotonic() - token_at > 600:
                token, token_at = self.token(), time.monotonic()
            run = self.api(f"dags/{dag_id}/dagRuns/{quoted}", token)
            if on_progress is not None:
                tis = self.api(f"dags/{dag_id}/dagRuns/{quoted}/taskInstances", token)["task_instances"]
                on_progress(run, tis)
            if run["state"] in ("success", "failed"):
                return dict(run)
            time.sleep(3)
        raise TimeoutError(f"{dag_id} run {run_id} not finished after {timeout:.0f} s")

    def wait_for_run_of_type(self, dag_id: str, run_type: str, timeout: float = 600) -> dict[str, Any]:
        """The newest run of ``dag_id`` of ``run_type`` (``asset_triggered``, ``scheduled`` ...), once there is one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = next((r for r in self.runs(dag_id) if r["run_type"] == run_type), None)
            if run is not None:
                return run
            time.sleep(3)
        raise TimeoutError(f"no {run_type} run of {dag_id} after {timeout:.0f} s")

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.api(f"dags/{dag_id}/dagRuns?order_by=-run_after&limit=50")["dag_runs"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        import urllib.parse

        quoted = urllib.parse.quote(run_id, safe="")
        return list(self.api(f"dags/{dag_id}/dagRuns/{quoted}/taskInstances")["task_instances"])

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        import urllib.parse

        quoted = urllib.parse.quote(run_id, safe="")
        entry = self.api(
            f"dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/xcomEntries/return_value"
            "?deserialize=true&stringify=false"
        )
        return entry.get("value")
