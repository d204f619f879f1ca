"""``ChaosHoldTrigger``: wait out a chaos task's hold in the triggerer, probing as it goes.

A deferrable ``ChaosScenarioOperator`` injects, then defers here: the worker slot is free
for the whole hold. The trigger checks the steady-state probes every ``probe_interval``
seconds (async, see ``triggers/probes.py``) and fires one event:

* ``success`` when the hold is over — the task resumes, undoes its records and checks
  recovery exactly as an in-worker hold does;
* ``probe_failed`` at once when a probe does not hold — the trigger undoes the entry's
  records right away (so the restore does not wait for a free worker), and the resumed
  task replays whatever is left and fails with the reason;
* ``error`` when the trigger itself broke (the message says why) — the task undoes and fails.

Everything the task needs after the hold travels in ``resume`` (echoed in the event) and
in the journal: the resumed task may run on another worker.

Dead man's switch: after the ``success`` event, the triggerer keeps a watchdog for
``dead_man_seconds``; if the records are then still pending and nobody holds their claims
(the task has not resumed, e.g. its worker died), it replays them itself. ``on_kill`` (a
user marked the deferred task failed or success, or cleared it) also undoes the records.
``cleanup()`` is left alone: it also runs when the triggerer restarts, and a restart must
never end a hold early.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import TriggerEvent

from krkn_airflow_provider.scenarios.probes import parse_probes
from krkn_airflow_provider.triggers import probes as async_probes
from krkn_airflow_provider.triggers.base import KrknTrigger

# Watchdogs outlive the trigger that armed them: keep a reference so they are not collected.
_WATCHDOGS: set[asyncio.Task[None]] = set()
# Bounded below [triggerer] on_kill_timeout (30 s by default).
ON_KILL_SECONDS = 25.0
MAX_HOLD_RESULTS = 200


class ChaosHoldTrigger(KrknTrigger):
    """Hold a fault until ``hold_until``, checking the probes; one event when done.

    :param run_uuid: the run's journal context.
    :param record_ids: the records of the entry being held (what an undo replays).
    :param hold_until: end of the hold, seconds since the epoch.
    :param kubernetes_conn_id: the cncf.kubernetes ``kubernetes`` connection.
    :param rollback_location: the journal root the task used (already resolved).
    :param storage_conn_id: connection for an object storage journal.
    :param probes: steady-state probes (dicts, Prometheus URLs resolved by the task).
    :param probe_interval: seconds between two probe checks.
    :param dead_man_seconds: after the hold, how long the task has to resume before the
        triggerer undoes the records itself; 0 turns the watchdog off.
    :param resume: what the task needs after the hold, echoed in the event.
    """

    def __init__(
        self,
        *,
        run_uuid: str,
        record_ids: list[str],
        hold_until: float,
        kubernetes_conn_id: str = "kubernetes_default",
        rollback_location: str | None = None,
        storage_conn_id: str | None = None,
        probes: list[dict[str, Any]] | None = None,
        probe_interval: float = 5.0,
        dead_man_seconds: float = 60.0,
        resume: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.run_uuid = run_uuid
        self.record_ids = list(record_ids)
        self.hold_until = float(hold_until)
        self.kubernetes_conn_id = kubernetes_conn_id
        self.rollback_location = rollback_location
        self.storage_conn_id = storage_conn_id
        self.probes = list(probes or [])
        self.probe_interval = probe_interval
        self.dead_man_seconds = dead_man_seconds
        self.resume = dict(resume or {})
        self._fired = False

    async def run(self) -> AsyncIterator[TriggerEvent]:
        results: list[dict[str, Any]] = []
        reason = ""
        try:
            status, message = await self._hold(results)
            if status == "probe_failed":
                reason = message
                undone = await asyncio.to_thread(self._undo, "a probe failed during the hold")
                message = f"steady state lost during the hold: {reason}; undone at once: {undone}"
            elif self.record_ids and self.dead_man_seconds > 0:
                self._arm_dead_man()
        except Exception as error:
            status = "error"
            message = f"hold trigger failed: {error!r}\n{traceback.format_exc()}"
        self._fired = True
        yield TriggerEvent(  # type: ignore[no-untyped-call]
            {"status": status, "message": message, "reason": reason, "probes": results, "resume": self.resume}
        )

    async def _hold(self, results: list[dict[str, Any]]) -> tuple[str, str]:
        specs = parse_probes(self.probes, source="probes of the hold")
        left = self.hold_until - time.time()
        self.log.info(
            "holding run %s: %d record(s), %.0f s left, %d probe(s) every %g s",
            self.run_uuid,
            len(self.record_ids),
            max(0.0, left),
            len(specs),
            self.probe_interval,
        )
        next_probe = 0.0
        while (now := time.time()) < self.hold_until:
            if specs and now >= next_probe:
                next_probe = now + self.probe_interval
                checked = await async_probes.check_all(
                    specs, kubernetes_conn_id=self.kubernetes_conn_id, phase="hold"
                )
                room = MAX_HOLD_RESULTS - len(results)
                results.extend(async_probes.results_payload(checked)[: max(0, room)])
                bad = [result for result in checked if not result.ok]
                if bad:
                    reason = "; ".join(f"{result.probe}: {result.message}" for result in bad)
                    self.log.warning("probe FAILED during the hold: %s; undoing now", reason)
                    return "probe_failed", reason
                continue
            wake = min(self.hold_until, next_probe) if specs else self.hold_until
            await asyncio.sleep(max(0.0, wake - now))
        self.log.info("hold of run %s is over: resuming the task to undo and check recovery", self.run_uuid)
        return "success", "the hold is over"

    # -- undo (in a thread: the journal and the Kubernetes client are blocking) ------------

    def _undo(self, why: str, *, unclaimed_only: bool = False, stop_after: float | None = None) -> str:
        from krkn_airflow_provider.hooks.krkn import KrknHook
        from krkn_airflow_provider.rollback import replay

        hook = KrknHook(
            kubernetes_conn_id=self.kubernetes_conn_id,
            rollback_location=self.rollback_location,
            storage_conn_id=self.storage_conn_id,
        )
        store = hook.store
        ids = set(self.record_ids)
        pending = [
            entry
            for entry in store.entries(run_uuid=self.run_uuid, state="pending")
            if entry.id in ids and not (unclaimed_only and store.read_claim(entry) is not None)
        ]
        if not pending:
            return "nothing pending"
        self.log.warning("%s: undoing %d record(s) of run %s", why, len(pending), self.run_uuid)
        deadline = None if stop_after is None else time.monotonic() + stop_after
        summary = replay(
            store,
            hook.client,
            run_uuid=self.run_uuid,
            only=[entry.id for entry in pending],
            log=lambda line: self.log.info("%s", line),
            should_stop=None if deadline is None else (lambda: time.monotonic() > deadline),
            wait_for_claims=False,
        )
        self.log.warning("%s", summary.line())
        return summary.line()

    def _arm_dead_man(self) -> None:
        task = asyncio.get_running_loop().create_task(self._dead_man(), name=f"krkn-dead-man-{self.run_uuid}")
        _WATCHDOGS.add(task)
        task.add_done_callback(_WATCHDOGS.discard)

    async def _dead_man(self) -> None:
        await asyncio.sleep(max(0.0, self.hold_until + self.dead_man_seconds - time.time()))
        why = f"dead man's switch: the task has not resumed {self.dead_man_seconds:g} s after its hold"
        try:
            await asyncio.to_thread(self._undo, why, unclaimed_only=True)
        except Exception:
            self.log.exception("dead man's switch could not undo run %s", self.run_uuid)

    async def on_kill(self) -> None:
        """The user stopped the deferred task (mark failed/success, clear): end the fault."""
        if self._fired:
            return
        try:
            await asyncio.to_thread(self._undo, "the deferred task was stopped", stop_after=ON_KILL_SECONDS)
        except Exception:
            self.log.exception("could not undo run %s; RollbackOperator replays it", self.run_uuid)
