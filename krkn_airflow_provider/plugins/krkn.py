"""``KrknPlugin``: the "Chaos gameday" page in the Airflow 3 UI (``airflow.plugins`` entry point).

A FastAPI app mounted at ``/krkn`` on the api-server, behind Airflow's authentication
(any signed-in user; the page is read-only), and a navigation entry that shows it. The
journal is opened by ``settings.open_store`` exactly as tasks open it (location, storage
connection, HMAC keys).

Every Airflow process loads plugins (workers too), so this module imports nothing heavy:
the app is built the first time the api-server asks for it.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from airflow.plugins_manager import AirflowPlugin

from krkn_airflow_provider.report.web import URL_PREFIX, URL_ROUTE

if TYPE_CHECKING:
    from krkn_airflow_provider.rollback import Store


def journal() -> Store:
    # Opened as the workers open it: same location, storage connection and keys.
    from krkn_airflow_provider.settings import open_store

    store, _ = open_store(use_airflow=True)
    return store


@cache
def gameday_app() -> Any:
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import Depends

    from krkn_airflow_provider.plugins.app import make_app

    return make_app(journal, dependencies=[Depends(get_user)])


class KrknPlugin(AirflowPlugin):
    name = "krkn_chaos"
    external_views = [
        {
            "name": "Chaos gameday",
            "href": f"{URL_PREFIX.lstrip('/')}/",  # relative: resolved against the UI base URL
            "destination": "nav",
            "category": "browse",
            "url_route": URL_ROUTE,
        }
    ]

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return [{"app": gameday_app(), "url_prefix": URL_PREFIX, "name": "Krkn chaos gameday"}]
