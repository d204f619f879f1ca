"""``KrknHook``: the Kubernetes client and the rollback journal a chaos task uses."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from krkn_airflow_provider.errors import ConfigError
from krkn_airflow_provider.rollback import Store, resolve_location

if TYPE_CHECKING:
    from kubernetes.client import ApiClient
    from kubernetes.dynamic import DynamicClient

CONFIG_SECTION = "krkn"


def _config(key: str) -> str:
    from airflow.sdk import conf

    value = conf.get(CONFIG_SECTION, key, fallback="")
    return str(value or "").strip()


def _is_remote(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


class KrknHook(BaseHook):
    """Kubernetes API client and rollback journal for chaos tasks.

    The client comes from the cncf.kubernetes ``KubernetesHook`` (its ``kubernetes``
    connection type: ``kube_config_path``, ``kube_config``, ``in_cluster``...). The journal
    location is the ``rollback_location`` argument, else ``[krkn] rollback_location``, else
    ``$KRKN_ROLLBACK_LOCATION``, else ``~/.krkn/rollback``. Nothing here touches the network
    or the storage until a property is used.

    :param kubernetes_conn_id: the ``kubernetes`` connection to the target cluster.
    :param rollback_location: journal root: a path shared by all workers, or an object
        storage URL (``s3://bucket/prefix``).
    :param storage_conn_id: connection for an object storage location, passed to
        ``ObjectStoragePath``; default ``[krkn] rollback_conn_id``.
    :param hmac_key: key to sign and verify records; default the Airflow Variable named by
        ``[krkn] hmac_key_variable``.
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
    def location(self) -> str:
        return resolve_location(self.rollback_location or _config("rollback_location") or None)

    def _hmac_key(self) -> bytes | None:
        key = self.hmac_key
        if key is None:
            variable = _config("hmac_key_variable")
            if variable:
                from airflow.sdk import Variable

                key = Variable.get(variable)
        if not key:
            return None
        return key.encode() if isinstance(key, str) else key

    @cached_property
    def store(self) -> Store:
        """The journal; with an object storage URL, its file system comes from ``ObjectStoragePath``."""
        location = self.location
        conn_id = self.storage_conn_id or _config("rollback_conn_id") or None
        fs = None
        if _is_remote(location) and conn_id:
            from airflow.sdk import ObjectStoragePath

            try:
                fs = ObjectStoragePath(location, conn_id=conn_id).fs
            except (ValueError, ImportError) as error:
                raise ConfigError(
                    f"rollback location {location} with connection {conn_id!r}: {error} "
                    "(is the provider for this storage installed, e.g. apache-airflow-providers-amazon?)"
                ) from error
        try:
            return Store(location, fs=fs, hmac_key=self._hmac_key())
        except (ValueError, ImportError) as error:
            raise ConfigError(f"rollback location {location}: {error}") from error
