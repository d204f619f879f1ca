"""``RollbackOperator``: replay a run's pending undo records, newest first."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import TriggerRule, conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from krkn_airflow_provider.errors import KrknError
from krkn_airflow_provider.operators.base import KrknBaseOperator
from krkn_airflow_provider.operators.report_link import GamedayReportLink
from krkn_airflow_provider.report import tables, write_replay_outcomes, write_report
from krkn_airflow_provider.rollback import ReplaySummary, replay, run_uuid_for
from krkn_airflow_provider.rollback.naming import check_run_uuid
from krkn_airflow_provider.rollback.sweep import find_leftovers, remove_leftover
from krkn_airflow_provider.triggers.claims import ClaimsReleasedTrigger

# How long a deferred rollback waits for another replay's claims (a claim lives 300 s).
CLAIM_WAIT = timedelta(seconds=330)

if TYPE_CHECKING:
    from airflow.sdk import Context


class RollbackOperator(KrknBaseOperator):
    """Replay the pending undo records of a DAG run (by default this one).

    Records are applied newest first; each is claimed, retried on 429/5xx/timeouts, and
    marked executed only when it really succeeded. The task logs one line per record and
    a summary, returns the summary (XCom), and fails listing what is still pending — so a
    retry, or a clear from the UI, does exactly the rest. Nothing pending is success.

    Default ``trigger_rule="one_failed"``: it runs when a chaos task failed. Prefer the
    ``chaos_experiment`` helper, which also adds a watcher so the run ends failed.

    :param kubernetes_conn_id: the cncf.kubernetes ``kubernetes`` connection. (templated)
    :param rollback_location: journal root; default ``[krkn] rollback_location``. (templated)
    :param storage_conn_id: connection for an object storage journal. (templated)
    :param target_dag_id: DAG of the run to roll back; default this DAG. (templated)
    :param target_run_id: run to roll back; default this run. (templated)
    :param target_run_uuid: the run's journal uuid, instead of dag and run ids. (templated)
    :param scenario: only records of this scenario type. (templated)
    :param chaos_task_id: only records written by this task. (templated)
    :param dry_run: log what would be applied; change and mark nothing.
    :param workers: apply records of different objects concurrently, in that many lanes:
        forked processes for a journal in a local folder (from 64 pending records), threads
        for an object store.
    :param require_target: fail unless ``target_run_id`` or ``target_run_uuid`` is given
        (for a DAG that replays other runs, so an empty parameter is not "nothing to do").
    :param sweep: after the replay, find the run's leftover objects (they carry the run's
        labels but no pending record covers them: a crash between a change and its mark, a
        lost journal), log them all first, then delete each while it still carries those
        labels (only log them on a dry run). A leftover that cannot be deleted fails the task.
    :param sweep_namespace: only sweep this namespace (default: all). (templated)
    :param steal_expired: take over records whose claim its owner stopped renewing (a
        replay that died); with ``False`` they stay pending and the task fails naming the
        owner, for a person to look first.
    :param deferrable: records another replay holds are waited for in the triggerer (the
        worker slot is free meanwhile), then replayed again; default
        ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = (
        *KrknBaseOperator.template_fields,
        "target_dag_id",
        "target_run_id",
        "target_run_uuid",
        "scenario",
        "chaos_task_id",
        "sweep_namespace",
    )
    ui_color = "#9acd32"
    operator_extra_links = (GamedayReportLink(),)

    def __init__(
        self,
        *,
        target_dag_id: str | None = None,
        target_run_id: str | None = None,
        target_run_uuid: str | None = None,
        scenario: str | None = None,
        chaos_task_id: str | None = None,
        dry_run: bool = False,
        workers: int = 1,
        require_target: bool = False,
        sweep: bool = False,
        sweep_namespace: str | None = None,
        steal_expired: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", TriggerRule.ONE_FAILED)
        kwargs.setdefault("retries", 3)
        kwargs.setdefault("retry_delay", timedelta(seconds=10))
        kwargs.setdefault("retry_exponential_backoff", True)
        super().__init__(**kwargs)
        self.target_dag_id = target_dag_id
        self.target_run_id = target_run_id
        self.target_run_uuid = target_run_uuid
        self.scenario = scenario
        self.chaos_task_id = chaos_task_id
        # (BaseOperator.dry_run is a method: keep the flag under another name.)
        self.is_dry_run = dry_run
        self.workers = workers
        self.require_target = require_target
        self.sweep = sweep
        self.sweep_namespace = sweep_namespace
        self.steal_expired = steal_expired
        self.deferrable = deferrable
        self._stop = threading.Event()
        self.report_run_uuid: str | None = None  # set at execute: the run the report link opens

    def run_uuid(self, context: Context) -> str:
        """The journal uuid of the run to roll back (also the run the report link opens)."""
        ti = context["ti"]
        if self.require_target and not (self.target_run_uuid or self.target_run_id):
            raise AirflowFailException("give the run to roll back: target_run_id or target_run_uuid")
        if self.target_run_uuid:
            try:
                self.report_run_uuid = check_run_uuid(str(self.target_run_uuid).strip())
            except KrknError as error:
                raise AirflowFailException(f"target_run_uuid: {error}") from error
            return self.report_run_uuid
        dag_id = self.target_dag_id or ti.dag_id
        run_id = self.target_run_id or ti.run_id
        self.report_run_uuid = run_uuid_for(str(dag_id).strip(), str(run_id).strip())
        return self.report_run_uuid

    def replay(self, context: Context) -> ReplaySummary:
        run_uuid = self.run_uuid(context)
        hook = self.hook
        # The Kubernetes client (API discovery) and the journal (storage, key) take seconds
        # each on a cold worker: open them side by side.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="krkn-client") as pool:
            client_future = pool.submit(lambda: hook.client)
            try:
                store = hook.store
            except KrknError as error:
                raise AirflowException(str(error)) from error
            client = client_future.result()
        self.log.info("replaying run %s from %s", run_uuid, store.backend.display())
        try:
            summary = replay(
                store,
                client,
                run_uuid=run_uuid,
                scenario=self.scenario or None,
                task_id=self.chaos_task_id or None,
                dry_run=self.is_dry_run,
                workers=self.workers,
                log=self._log_line,
                should_stop=self._stop.is_set,
                steal_expired=self.steal_expired,
                wait_for_claims=not self.deferrable or self.is_dry_run,
            )
        except (KrknError, OSError) as error:
            raise AirflowException(f"cannot read the rollback journal: {error}") from error
        held = [result.entry.id for result in summary.results if result.claimed_elsewhere]
        if held:
            self.log.info("%d record(s) held by another replay: waiting in the triggerer", len(held))
            trigger = ClaimsReleasedTrigger(
                run_uuid=run_uuid,
                record_ids=held,
                rollback_location=self.hook.location,
                storage_conn_id=self.storage_conn_id,
            )
            self.defer(trigger=trigger, method_name="execute_complete", timeout=CLAIM_WAIT)
        self.log.info("%s", summary.line())
        self._report(context, store, run_uuid, summary)
        return summary

    def _report(self, context: Context, store: Any, run_uuid: str, summary: ReplaySummary) -> None:
        """Summary table, per-record outcomes and the run's gameday report; never fails the task."""
        if not summary.results or self.is_dry_run:
            return
        data = summary.to_dict()
        self.log.info("rollback summary:\n%s", tables.replay_table(data))
        ti = context["ti"]
        try:
            write_replay_outcomes(store, run_uuid, data, source=f"{ti.task_id}.{ti.try_number}")
            self.log.info("gameday report: %s", write_report(store, run_uuid).html)
        except Exception:
            self.log.warning("could not write the replay outcomes or the gameday report", exc_info=True)

    def execute(self, context: Context) -> dict[str, Any]:
        summary = self.replay(context)
        swept = self.sweep_leftovers(context) if self.sweep else None
        if not summary.ok:
            raise AirflowException(summary.pending_message())
        result = summary.to_dict()
        if swept is not None:
            result["swept"] = swept
        return result

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """The other replay let go: replay again (what it finished counts as done)."""
        event = event or {}
        if event.get("status") != "released":
            raise AirflowException(f"waiting for another replay's claims failed: {event.get('message')}")
        self.log.info("%s; replaying again", event.get("message"))
        result = self.execute(context)
        result["waited_for_claims"] = list(event.get("record_ids") or [])
        return result

    def sweep_leftovers(self, context: Context) -> list[dict[str, str]]:
        """Find this run's leftovers, log them, then delete them (not on a dry run)."""
        run_uuid = self.run_uuid(context)
        try:
            leftovers = find_leftovers(
                self.hook.store, self.hook.client, run_uuid=run_uuid, namespace=self.sweep_namespace or None
            )
        except (KrknError, OSError) as error:
            raise AirflowException(f"sweep: cannot list leftovers of run {run_uuid}: {error}") from error
        for leftover in leftovers:
            self.log.info("sweep (dry run): would delete leftover %s", leftover.describe())
        self.log.info("sweep: %d leftover object(s) of run %s", len(leftovers), run_uuid)
        if self.is_dry_run:
            return [{"object": leftover.describe(), "outcome": "dry_run"} for leftover in leftovers]
        swept, failed = [], []
        for leftover in leftovers:
            outcome = remove_leftover(self.hook.client, leftover)
            self.log.info("sweep: %s: %s", outcome, leftover.describe())
            swept.append({"object": leftover.describe(), "outcome": outcome})
            if outcome.startswith("failed"):
                failed.append(f"{leftover.describe()}: {outcome}")
        if failed:
            raise AirflowException("sweep: leftover object(s) not removed:\n" + "\n".join(failed))
        return swept

    def on_kill(self) -> None:
        # Records being applied finish; the rest stay pending for the next try.
        self._stop.set()
