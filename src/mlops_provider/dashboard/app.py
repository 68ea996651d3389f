"""The dashboard's FastAPI app, mounted by the plugin (:mod:`.plugin`) under ``/mlops`` in Airflow's api-server.

Routes (every one requires an authenticated Airflow user allowed to see plugins, through the auth manager;
without one the JSON routes answer 401 and the pages redirect to Airflow's login):

* ``/mlops/``: the overview; ``/mlops/models/<model>``: a model page;
* ``/mlops/api/overview``, ``/mlops/api/models/<model>``: their data as JSON (the same dicts the pages render);
* ``/mlops/api/models/<model>/versions/<version>/lineage``: the version's audit record (``mlops lineage``);
* ``/mlops/models/<model>/drift-report/<mlflow run id>``: a drift check's Evidently report, from MLflow;
* ``/mlops/static/plotly.min.js``: plotly.js, bundled with the plotly package.

Airflow facts are read through the public REST API with the caller's own token (:mod:`.airflow_api`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from mlops_provider.dashboard.plugin import PREFIX


def _user_key(request: Request) -> str:
    """Whose view this is, for the cache: a digest of the request's credentials (Airflow may show different users
    different runs, so one user's answer is never served to another)."""
    token = _token(request) or ""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN

    return request.cookies.get(COOKIE_NAME_JWT_TOKEN)


def _airflow(request: Request) -> Any:
    from mlops_provider import settings
    from mlops_provider.dashboard.airflow_api import AirflowApi

    return AirflowApi(settings.airflow_api_url(), _token(request))


def create_app() -> FastAPI:
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import requires_access_view

    from mlops_provider.dashboard import render
    from mlops_provider.dashboard.service import Cache, UnknownModel, model_data, overview_data

    app = FastAPI(
        title="MLOps dashboard",
        dependencies=[Depends(requires_access_view(AccessView.PLUGINS))],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    cache = Cache()

    @app.exception_handler(HTTPException)
    async def _unauthenticated(request: Request, exc: HTTPException) -> Response:
        # a person opening a page gets Airflow's login; scripts and the JSON routes get the status code
        if exc.status_code == 401 and "/api/" not in request.url.path and request.method == "GET":
            from airflow.api_fastapi.app import get_auth_manager

            return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=302)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    def overview(request: Request) -> dict[str, Any]:
        return cache.get(("overview", _user_key(request)), lambda: overview_data(_airflow(request)))  # type: ignore[no-any-return]

    def model(request: Request, name: str) -> dict[str, Any]:
        try:
            return cache.get(("model", name, _user_key(request)), lambda: model_data(name, _airflow(request)))  # type: ignore[no-any-return]
        except UnknownModel as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None

    @app.get("/", response_class=HTMLResponse)
    def overview_page(request: Request) -> HTMLResponse:
        return HTMLResponse(render.overview_html(overview(request), request.scope.get("root_path", PREFIX)))

    @app.get("/models/{name}", response_class=HTMLResponse)
    def model_page(request: Request, name: str) -> HTMLResponse:
        return HTMLResponse(render.model_html(model(request, name), request.scope.get("root_path", PREFIX)))

    @app.get("/api/overview")
    def overview_json(request: Request) -> dict[str, Any]:
        return overview(request)

    @app.get("/api/models/{name}")
    def model_json(request: Request, name: str) -> dict[str, Any]:
        return model(request, name)

    @app.get("/api/models/{name}/versions/{version}/lineage")
    def lineage_json(name: str, version: str) -> JSONResponse:
        import json

        from mlops_provider.dashboard.service import mlflow_client
        from mlops_provider.lineage.audit import audit_record

        try:
            record = audit_record(mlflow_client()[0], name, version)
        except Exception as exc:
            raise HTTPException(status_code=404, detail=f"{name} v{version}: {exc}") from None
        return JSONResponse(json.loads(json.dumps(record, default=str)))

    @app.get("/models/{name}/drift-report/{run_id}", response_class=HTMLResponse)
    def drift_report(name: str, run_id: str) -> Response:
        import tempfile

        from mlops_provider.dashboard.service import mlflow_client
        from mlops_provider.naming import DRIFT_REPORT_ARTIFACT, MONITORING_EXPERIMENT_SUFFIX

        client = mlflow_client()[0]
        try:
            run = client.get_run(run_id)
            experiment = client.get_experiment(run.info.experiment_id)
        except Exception:
            raise HTTPException(status_code=404, detail=f"no drift check run {run_id}") from None
        if experiment.name != name + MONITORING_EXPERIMENT_SUFFIX:  # only drift reports, only of this model
            raise HTTPException(status_code=404, detail=f"run {run_id} is not a drift check of {name}")
        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = client.download_artifacts(run_id, DRIFT_REPORT_ARTIFACT, tmp)
            except Exception:
                raise HTTPException(status_code=404, detail=f"drift check {run_id} has no report") from None
            # the report renders values from the scored data: a sandbox gives it an origin of its own, so whatever
            # a value holds cannot act with the viewer's Airflow session (its scripts still draw the charts)
            return HTMLResponse(
                Path(path).read_text(encoding="utf-8"),
                headers={"Content-Security-Policy": "sandbox allow-scripts", "X-Content-Type-Options": "nosniff"},
            )

    @app.get("/static/plotly.min.js")
    def plotly_js() -> FileResponse:
        import plotly

        path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        return FileResponse(path, media_type="application/javascript", headers={"Cache-Control": "max-age=86400"})

    return app
