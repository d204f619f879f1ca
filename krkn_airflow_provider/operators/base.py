"""``KrknBaseOperator``: the connections, the hook and the log line every Krkn operator shares."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

from krkn_airflow_provider.hooks.krkn import KrknHook


class KrknBaseOperator(BaseOperator):
    """Base of the operators that reach the cluster and the rollback journal.

    It only stores the connection arguments; the ``hook`` is built on first use, at
    execute time, so parsing a DAG never opens a connection or the journal. Subclasses
    add their own fields with ``template_fields = (*KrknBaseOperator.template_fields, ...)``.

    :param kubernetes_conn_id: the cncf.kubernetes ``kubernetes`` connection. (templated)
    :param rollback_location: journal root; default ``[krkn] rollback_location``. (templated)
    :param storage_conn_id: connection for an object storage journal. (templated)
    """

    template_fields: Sequence[str] = ("kubernetes_conn_id", "rollback_location", "storage_conn_id")

    def __init__(
        self,
        *,
        kubernetes_conn_id: str = "kubernetes_default",
        rollback_location: str | None = None,
        storage_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kubernetes_conn_id = kubernetes_conn_id
        self.rollback_location = rollback_location
        self.storage_conn_id = storage_conn_id

    @cached_property
    def hook(self) -> KrknHook:
        """The cluster client and the journal, from the (rendered) connection arguments."""
        return KrknHook(
            kubernetes_conn_id=self.kubernetes_conn_id,
            rollback_location=self.rollback_location,
            storage_conn_id=self.storage_conn_id,
        )

    def _log_line(self, line: str) -> None:
        """Log one line of a scenario or a replay (their ``log`` callback)."""
        self.log.info("%s", line)
