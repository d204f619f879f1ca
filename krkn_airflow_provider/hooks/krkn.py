"""``KrknHook``: the Kubernetes client and the rollback journal a chaos task uses."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from krkn_airflow_provider.settings import JournalSettings, open_store, resolve_location

if TYPE_CHECKING:
    from kubernetes.client import ApiClient
    from kubernetes.dynamic import DynamicClient

    from krkn_airflow_provider.rollback import Store
    from krkn_airflow_provider.scenarios.probes import ProbeSpec


class KrknHook(BaseHook):
    """Kubernetes API client and rollback journal for chaos tasks.

    The client comes from the cncf.kubernetes ``KubernetesHook`` (its ``kubernetes``
    connection type: ``kube_config_path``, ``kube_config``, ``in_cluster``...). The journal
    is opened by ``settings.open_store``: arguments, else ``[krkn]``, else the environment,
    else the defaults; records are signed by default. Nothing here touches the network or
    the storage until a property is used.

    :param kubernetes_conn_id: the ``kubernetes`` connection to the target cluster.
    :param rollback_location: journal root: a path shared by all workers, or an object
        storage URL (``s3://bucket/prefix``).
    :param storage_conn_id: connection for an object storage location, passed to
        ``ObjectStoragePath``; default ``[krkn] rollback_conn_id``.
    :param hmac_key: key to sign and verify records; default the Airflow Variable named by
        ``[krkn] hmac_key_variable``, else ``$KRKN_ROLLBACK_HMAC_KEY``, else the Variable
        ``krkn_rollback_hmac_key`` (created by the first task that needs it).
    """

    hook_name = "Krkn chaos"

    def __init__(
        self,
        *,
        kubernetes_conn_id: str = "kubernetes_default",
        rollback_location: str | None = None,
        storage_conn_id: str | None = None,
        hmac_key: str | bytes | None = None,
    ) -> None:
        super().__init__()
        self.kubernetes_conn_id = kubernetes_conn_id
        self.rollback_location = rollback_location
        self.storage_conn_id = storage_conn_id
        self.hmac_key = hmac_key

    @cached_property
    def kubernetes_hook(self) -> Any:
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

        return KubernetesHook(conn_id=self.kubernetes_conn_id)

    @cached_property
    def api_client(self) -> ApiClient:
        client: ApiClient = self.kubernetes_hook.api_client
        return client

    @cached_property
    def client(self) -> DynamicClient:
        """A ``kubernetes.dynamic.DynamicClient`` over the connection's API client."""
        from kubernetes.dynamic import DynamicClient

        return DynamicClient(self.api_client)

    def get_conn(self) -> DynamicClient:
        return self.client

    @cached_property
    def _opened(self) -> tuple[Store, JournalSettings]:
        store, resolved = open_store(
            location=self.rollback_location,
            conn_id=self.storage_conn_id,
            hmac_key=self.hmac_key,
            use_airflow=True,
            create_key=True,
        )
        self.log.info("%s", resolved.describe())
        return store, resolved

    @cached_property
    def location(self) -> str:
        return resolve_location(self.rollback_location)[0]

    @property
    def journal_settings(self) -> JournalSettings:
        """What the journal was opened with: location, connection, key source."""
        return self._opened[1]

    @cached_property
    def store(self) -> Store:
        """The journal, opened as every component opens it (``krkn_airflow_provider.settings``)."""
        return self._opened[0]

    @staticmethod
    def http_url(conn_id: str) -> str:
        """The base URL of an HTTP connection: its host (with scheme, else ``schema`` or http) and port."""
        conn = BaseHook.get_connection(conn_id)
        host = str(conn.host or "")
        url = host if "://" in host else f"{conn.schema or 'http'}://{host}"
        if conn.port:
            url += f":{conn.port}"
        return url

    def resolve_probes(self, probes: Sequence[ProbeSpec]) -> list[ProbeSpec]:
        """Give Prometheus probes the URL of their ``http_conn_id`` connection (others unchanged)."""
        from krkn_airflow_provider.scenarios.probes import PrometheusProbe

        resolved = []
        for probe in probes:
            if isinstance(probe, PrometheusProbe) and probe.http_conn_id and not probe.url:
                probe = probe.model_copy(update={"url": self.http_url(probe.http_conn_id)})
            resolved.append(probe)
        return resolved
