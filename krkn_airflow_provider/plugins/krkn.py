"""``KrknPlugin``: the "Chaos gameday" page in the Airflow 3 UI (registered in provider info).

A FastAPI app mounted at ``/krkn`` on the api-server, behind Airflow's authentication
(any signed-in user; the page is read-only), and a navigation entry that shows it. The
journal is ``[krkn] rollback_location``, else ``$KRKN_ROLLBACK_LOCATION``, else
``~/.krkn/rollback``.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from krkn_airflow_provider.plugins.app import make_app
from krkn_airflow_provider.report.web import URL_PREFIX, URL_ROUTE
from krkn_airflow_provider.rollback import Store, resolve_location


def journal() -> Store:
    from airflow.configuration import conf

    location = str(conf.get("krkn", "rollback_location", fallback="") or "").strip()
    return Store(resolve_location(location or None))


def _app() -> Any:
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import Depends

    return make_app(journal, dependencies=[Depends(get_user)])


class KrknPlugin(AirflowPlugin):
    name = "krkn_chaos"
    fastapi_apps = [{"app": _app(), "url_prefix": URL_PREFIX, "name": "Krkn chaos gameday"}]
    external_views = [
        {
            "name": "Chaos gameday",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "category": "browse",
            "url_route": URL_ROUTE,
        }
    ]
