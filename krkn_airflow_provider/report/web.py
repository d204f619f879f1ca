"""URLs of the provider's UI plugin, shared by the plugin and the operator link."""

from __future__ import annotations

URL_PREFIX = "/krkn"
URL_ROUTE = "krkn-gameday"


def report_path(run_uuid: str) -> str:
    """Path of a run's HTML report below ``URL_PREFIX``."""
    return f"/runs/{run_uuid}/report.html"
