"""``ChaosPreflightOperator``: prove the journal is writable and the cluster reachable."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException

from krkn_airflow_provider.errors import KrknError
from krkn_airflow_provider.operators.base import KrknBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class ChaosPreflightOperator(KrknBaseOperator):
    """Fail before any chaos when records could not be written or the cluster not reached.

    It is the setup task of the teardown wiring (``chaos_experiment(..., teardown=True)``):
    the rollback teardown runs only when this succeeded, and then whatever the chaos did.

    :param kubernetes_conn_id: the cncf.kubernetes ``kubernetes`` connection. (templated)
    :param rollback_location: journal root; default ``[krkn] rollback_location``. (templated)
    :param storage_conn_id: connection for an object storage journal. (templated)
    """

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            store = self.hook.store
            store.check_writable()
        except KrknError as error:
            raise AirflowException(f"rollback location not writable: {error}") from error
        client = self.hook.client
        namespaces = client.resources.get(api_version="v1", kind="Namespace")
        client.get(namespaces, limit=1, _request_timeout=30)
        location = store.backend.display()
        self.log.info("journal %s is writable; cluster reachable", location)
        return {"rollback_location": location}
