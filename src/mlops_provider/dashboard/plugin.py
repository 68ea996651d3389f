"""The Airflow plugin that puts the dashboard in the api-server: the FastAPI app under ``/mlops`` and an entry
"MLOps" in the UI's navigation that shows it inside the Airflow UI (``url_route``).

Installed with the package (entry point ``airflow.plugins``); ``plugins/mlops_dashboard.py`` in the repository
loads the same class for an Airflow that takes plugins from its plugins folder. The app is built only when the
api-server asks for it: the scheduler and the workers also load plugins, and need none of it.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

#: Where the api-server mounts the app (also named in :mod:`.app`'s docstring).
PREFIX = "/mlops"


class _LazyApp:
    """Builds the FastAPI app at its first request (the plugin manager imports every plugin in every process)."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from mlops_provider.dashboard.app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


class MlopsDashboardPlugin(AirflowPlugin):
    name = "mlops_dashboard"
    fastapi_apps = [{"app": _LazyApp(), "url_prefix": PREFIX, "name": "MLOps dashboard"}]
    external_views = [
        {
            "name": "MLOps",
            "href": PREFIX + "/",
            "destination": "nav",
            "url_route": "mlops",
            "category": "browse",
        }
    ]
