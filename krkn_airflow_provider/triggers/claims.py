"""``ClaimsReleasedTrigger``: wait in the triggerer until another replay lets go of records.

Two replays of one run apply each record once: a record claimed by the other one is
skipped. A deferrable ``RollbackOperator`` then defers here instead of sleeping in its
worker slot; the event fires once every listed record is executed, unclaimed, or its
claim has expired (its owner died), and the task replays again.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import AsyncIterator

from airflow.triggers.base import TriggerEvent

from krkn_airflow_provider.triggers.base import KrknTrigger


class ClaimsReleasedTrigger(KrknTrigger):
    """Fire when none of ``record_ids`` of ``run_uuid`` is held by a live claim any more.

    :param run_uuid: the run's journal context.
    :param record_ids: the records another replay held.
    :param rollback_location: the journal root (already resolved).
    :param storage_conn_id: connection for an object storage journal.
    :param poll_interval: seconds between two looks at the claims.
    """

    def __init__(
        self,
        *,
        run_uuid: str,
        record_ids: list[str],
        rollback_location: str,
        storage_conn_id: str | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.run_uuid = run_uuid
        self.record_ids = list(record_ids)
        self.rollback_location = rollback_location
        self.storage_conn_id = storage_conn_id
        self.poll_interval = poll_interval

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            count = len(self.record_ids)
            self.log.info("waiting for another replay to free %d record(s) of run %s", count, self.run_uuid)
            while held := await asyncio.to_thread(self._held):
                self.log.debug("still held: %s", ", ".join(held))
                await asyncio.sleep(self.poll_interval)
            message = f"{len(self.record_ids)} record(s) released"
            event = {"status": "released", "message": message, "record_ids": self.record_ids}
        except Exception as error:
            event = {"status": "error", "message": f"{error!r}\n{traceback.format_exc()}"}
        yield TriggerEvent(event)  # type: ignore[no-untyped-call]

    def _held(self) -> list[str]:
        """The records still pending under a live claim (blocking: run in a thread)."""
        from krkn_airflow_provider.hooks.krkn import KrknHook

        store = KrknHook(rollback_location=self.rollback_location, storage_conn_id=self.storage_conn_id).store
        ids = set(self.record_ids)
        held = []
        for entry in store.entries(run_uuid=self.run_uuid, state="pending"):
            if entry.id not in ids:
                continue
            claim = store.read_claim(entry)
            if claim is not None and claim.expires > time.time():
                held.append(entry.id)
        return held
