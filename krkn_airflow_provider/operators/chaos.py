"""``ChaosScenarioOperator``: run one Krkn scenario file as an Airflow task."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import jinja2
from airflow.sdk import conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred
from jinja2.exceptions import SecurityError

from krkn_airflow_provider.errors import ConfigError, KrknError
from krkn_airflow_provider.operators import deferral
from krkn_airflow_provider.operators.base import KrknBaseOperator
from krkn_airflow_provider.operators.report_link import GamedayReportLink
from krkn_airflow_provider.operators.templating import sandboxed_env
from krkn_airflow_provider.report import tables, write_report, write_task_result
from krkn_airflow_provider.rollback import Journal, Origin, RetryPolicy, replay, run_uuid_for
from krkn_airflow_provider.scenarios import (
    BlastRadius,
    BlastRadiusExceeded,
    ScenarioContext,
    ScenarioInterrupted,
    ScenarioSummary,
    load_configs,
)
from krkn_airflow_provider.scenarios.files import parse_scenario_text, read_scenario_file
from krkn_airflow_provider.scenarios.observe import Observer
from krkn_airflow_provider.scenarios.probes import parse_probes

if TYPE_CHECKING:
    from airflow.sdk import Context

    from krkn_airflow_provider.rollback import Store


class ChaosScenarioOperator(KrknBaseOperator):
    """Run a Krkn scenario against a cluster, writing an undo record before every change.

    The task derives the run's journal context from ``dag_id`` and ``run_id``, so every
    task of the run, on any worker, shares it. It first replays what its own earlier tries
    left pending, then plans (a selector that matches nothing fails here, before any
    change), injects, holds, undoes its own records and checks recovery. A failure leaves
    its records pending for ``RollbackOperator`` (or the next try). Killed (SIGTERM), it
    stops injecting, undoes what it can within ``kill_grace_seconds`` and fails.

    Returns (XCom) the summary: targets, records written, cleanup, recovery seconds.

    :param scenario_type: Krkn's config key, e.g. ``pod_disruption_scenarios``. (templated)
    :param scenario_config: the scenario file's content as a dict or list. (templated)
    :param scenario_file: a Krkn scenario file (``.yaml``/``.yml``) relative to the DAG
        folder or ``template_searchpath``; rendered with Jinja first. (templated)
    :param kubernetes_conn_id: the cncf.kubernetes ``kubernetes`` connection. (templated)
    :param rollback_location: journal root; default ``[krkn] rollback_location``. (templated)
    :param storage_conn_id: connection for an object storage journal. (templated)
    :param dry_run: plan and log the records that would be written; change nothing.
    :param undo_on_failure: on failure, also undo this try's records before failing
        (for a task with no ``RollbackOperator`` after it).
    :param kill_grace_seconds: how long ``on_kill`` spends undoing before the task dies.
    :param probes: steady-state probes (see docs/report.md), checked before injection, every
        ``probe_interval`` seconds of the hold (a failure undoes at once and fails the task)
        and after recovery; a Prometheus probe's ``http_conn_id`` names its server. (templated)
    :param probe_interval: seconds between two probe checks during the hold.
    :param recovery_timeout: seconds for pods and probes to be back after the scenario's check.
    :param gameday_report: write the run's gameday report (HTML, JUnit) after the task.
    :param max_targets: refuse an entry whose plan has more targets than this.
    :param max_percent: refuse an entry that hits more than this percentage of what its
        selection matched.
    :param allow_protected_namespaces: allow targets in ``kube-system``, ``kube-public``,
        ``kube-node-lease`` and the namespace Airflow runs in (refused by default).
    :param protected_namespaces: replaces that default list.
    :param record_secret_values: delete a bare pod (or a workload, for service disruption)
        whose manifest holds literal credentials, recording them in the journal; refused by
        default (docs/safety.md, "What the journal stores").
    :param deferrable: hold the fault in the triggerer, not in a worker slot (see
        docs/deferral.md); default ``[operators] default_deferrable``. A dry run never defers.
    :param dead_man_seconds: how long a fault may outlive its hold when the task is gone:
        pods the scenario creates get ``activeDeadlineSeconds`` = hold + this; with
        ``deferrable``, the triggerer undoes the records itself when the task has not
        resumed this long after the hold (0: no watchdog).
    """

    template_fields: Sequence[str] = (
        "scenario_type",
        "scenario_config",
        "scenario_file",
        *KrknBaseOperator.template_fields,
        "probes",
    )
    template_ext: Sequence[str] = (".yaml", ".yml")
    template_fields_renderers = {"scenario_file": "yaml", "scenario_config": "json"}
    ui_color = "#f4a460"
    operator_extra_links = (GamedayReportLink(),)

    def __init__(
        self,
        *,
        scenario_type: str,
        scenario_config: dict[str, Any] | list[Any] | None = None,
        scenario_file: str | None = None,
        dry_run: bool = False,
        undo_on_failure: bool = False,
        kill_grace_seconds: float = 3.0,
        probes: list[dict[str, Any]] | None = None,
        probe_interval: float = 5.0,
        recovery_timeout: float = 300.0,
        gameday_report: bool = True,
        max_targets: int | None = None,
        max_percent: float | None = None,
        allow_protected_namespaces: bool = False,
        protected_namespaces: Sequence[str] | None = None,
        record_secret_values: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        dead_man_seconds: float = 120.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.scenario_type = scenario_type
        self.scenario_config = scenario_config
        self.scenario_file = scenario_file
        self.scenario_file_name = scenario_file  # the name, kept for messages after rendering
        # (BaseOperator.dry_run is a method: keep the flag under another name.)
        self.is_dry_run = dry_run
        self.undo_on_failure = undo_on_failure
        self.kill_grace_seconds = kill_grace_seconds
        self._stop = threading.Event()
        self._journal: Journal | None = None
        self._ctx: ScenarioContext | None = None
        self.probes = probes
        self.probe_interval = probe_interval
        self.recovery_timeout = recovery_timeout
        self.gameday_report = gameday_report
        self.max_targets = max_targets
        self.max_percent = max_percent
        self.allow_protected_namespaces = allow_protected_namespaces
        self.protected_namespaces = protected_namespaces
        self.record_secret_values = record_secret_values
        self._observer: Observer | None = None
        self._run_uuid: str | None = None
        self.deferrable = deferrable
        self.dead_man_seconds = dead_man_seconds
        # Records of earlier entries and of the held one, when resumed after a deferral.
        self._earlier_records: list[str] = []
        self._replayed: list[str] = []
        self._recovery_before: list[dict[str, Any]] = []
        self._deferred_holds = 0
        self._started = datetime.now(UTC)

    # -- input -------------------------------------------------------------------------

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        """Render in a sandbox whatever environment the DAG asks for (see operators/templating.py)."""
        dag = self.get_dag()
        native = bool(dag is not None and dag.render_template_as_native_obj)
        try:
            super().render_template_fields(context, sandboxed_env(dag, native=native))
        except SecurityError as error:
            raise AirflowFailException(
                f"task {self.task_id}: the scenario template was refused by the Jinja sandbox "
                f"({error}); templates may read params and macros, not Python internals. Nothing ran."
            ) from None

    def _document(self) -> tuple[Any, str]:
        if (self.scenario_config is None) == (self.scenario_file is None):
            raise ConfigError("give exactly one of scenario_config and scenario_file")
        if self.scenario_config is not None:
            return self.scenario_config, f"scenario_config of task {self.task_id}"
        text = str(self.scenario_file)
        name = str(self.scenario_file_name)
        if "\n" not in text and text.endswith(tuple(self.template_ext)) and os.path.isfile(text):
            return read_scenario_file(text), text  # not rendered (an absolute path)
        if "\n" not in text and text == name and text.endswith(tuple(self.template_ext)):
            raise ConfigError(f"{name}: cannot read the scenario file: not found")
        return parse_scenario_text(text, source=name), name

    # -- run ---------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        started = datetime.now(UTC)
        self._started = started
        try:
            result = self._execute_scenario(context)
        except TaskDeferred:
            raise  # the hold goes on in the triggerer; the result is written on resume
        except BaseException as error:
            self._write_result(context, started, None, error)
            raise
        self._write_result(context, started, result, None)
        return result

    def _execute_scenario(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        document, source, observer, limits = self._inputs()
        run_uuid = run_uuid_for(ti.dag_id, ti.run_id)
        self._run_uuid = run_uuid
        try:
            store = self.hook.store
            store.check_writable()
        except KrknError as error:
            raise AirflowException(f"rollback location not writable, nothing changed: {error}") from error
        self.log.info("rollback journal: %s (run %s)", store.backend.display(), run_uuid)
        client = self.hook.client
        replayed = self._replay_earlier_tries(store, client, run_uuid, ti)
        self._replayed = replayed
        ctx = self._scenario_context(store, client, run_uuid, ti, observer, limits)
        return self._drive(
            lambda: deferral.run_entries(self, document, ctx, source=source),
            store=store,
            observer=observer,
            replayed=replayed,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after a deferred hold (see ``operators/deferral.py``)."""
        return deferral.execute_complete(self, context, event)

    def _inputs(self) -> tuple[Any, str, Observer, BlastRadius]:
        """The scenario document, its name for messages, the probes' observer, the limits."""
        try:
            document, source = self._document()
            load_configs(self.scenario_type, document, source=source)  # fail before any I/O
            limits = self._limits()
            observer = Observer(
                self.hook.resolve_probes(parse_probes(self.probes, source=f"probes of task {self.task_id}")),
                interval=self.probe_interval,
                recovery_timeout=self.recovery_timeout,
            )
        except ConfigError as error:
            raise self._refused(error) from None
        self._observer = observer
        return document, source, observer, limits

    def _scenario_context(
        self, store: Store, client: Any, run_uuid: str, ti: Any, observer: Observer, limits: BlastRadius
    ) -> ScenarioContext:
        origin = Origin(
            run_uuid=run_uuid,
            scenario=self.scenario_type,
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            try_number=ti.try_number,
            map_index=_map_index(ti),
        )
        journal = Journal(store, origin, dry_run=self.is_dry_run)
        self._journal = journal
        ctx = ScenarioContext(
            client=client,
            journal=journal,
            log=self._log_line,
            should_stop=self._stop.is_set,
            observer=observer,
            limits=limits,
            allow_secret_values=self.record_secret_values,
            dead_man_seconds=self.dead_man_seconds,
        )
        self._ctx = ctx
        return ctx

    def _drive(
        self, run: Callable[[], ScenarioSummary], *, store: Store, observer: Observer, replayed: list[str]
    ) -> dict[str, Any]:
        """Run the scenario steps ``run()``; map errors to Airflow's and build the summary."""
        try:
            summary = run()
        except ScenarioInterrupted as error:
            self._undo_own(deadline=time.monotonic() + self.kill_grace_seconds)
            raise AirflowException(
                f"chaos task stopped: {error}; pending records are left for rollback"
            ) from error
        except (ConfigError, BlastRadiusExceeded) as error:
            raise self._refused(error) from None  # a retry would be refused again
        except KrknError as error:
            if self.undo_on_failure:
                self._undo_own(deadline=time.monotonic() + 60)
            raise AirflowException(f"{self.scenario_type} failed: {error}") from error
        if self._stop.is_set():
            raise AirflowException("chaos task was killed; see the log for what was undone")
        result = summary.to_dict()
        result["rollback_location"] = store.backend.display()
        result["replayed_earlier_tries"] = replayed
        result["recovery"] = self._recovery_before + observer.recovery()
        result["probes"] = observer.probe_results()
        result["deferred_holds"] = self._deferred_holds
        self.log.info("summary of %s:\n%s", self.task_id, tables.scenario_table(result))
        return result

    def _refused(self, error: KrknError) -> AirflowFailException:
        """A refusal (bad configuration, blast radius) as one clear log line; details at debug level."""
        self.log.error("%s refused, nothing was changed: %s", self.scenario_type, error)
        self.log.debug("where the refusal came from", exc_info=error)
        return AirflowFailException(f"{self.scenario_type} refused: {error}")

    def _limits(self) -> BlastRadius:
        if self.protected_namespaces is None:
            return BlastRadius(
                max_targets=self.max_targets,
                max_percent=self.max_percent,
                allow_protected_namespaces=self.allow_protected_namespaces,
            )
        return BlastRadius(
            max_targets=self.max_targets,
            max_percent=self.max_percent,
            allow_protected_namespaces=self.allow_protected_namespaces,
            protected_namespaces=frozenset(self.protected_namespaces),
        )

    # -- gameday report ------------------------------------------------------------------

    def _write_result(
        self, context: Context, started: datetime, result: dict[str, Any] | None, error: BaseException | None
    ) -> None:
        """Write this try's result file and the run's report; never fails the task."""
        observer, run_uuid = self._observer, self._run_uuid
        if observer is not None:
            observer.close()
        if run_uuid is None or self.is_dry_run:
            return
        ti = context["ti"]
        journal = self._journal
        document = {
            "run_uuid": run_uuid,
            "dag_id": ti.dag_id,
            "run_id": ti.run_id,
            "task_id": ti.task_id,
            "try_number": ti.try_number,
            "map_index": _map_index(ti),
            "scenario_type": self.scenario_type,
            "status": "success" if error is None else "failed",
            "error": None
            if error is None
            else str(error).splitlines()[0][:500]
            if str(error)
            else repr(error),
            "dry_run": self.is_dry_run,
            "started_at": started.isoformat(),
            "ended_at": datetime.now(UTC).isoformat(),
            "targets": (result or {}).get("targets") or [],
            "records": self._earlier_records
            + ([entry.id for entry in journal.recorded] if journal is not None else []),
            "recovery": observer.recovery() if observer is not None else [],
            "probes": observer.probe_results() if observer is not None else [],
        }
        try:
            store = self.hook.store
            where = write_task_result(store, document)
            self.log.info("result written to %s", where)
            if self.gameday_report:
                files = write_report(store, run_uuid)
                self.log.info("gameday report: %s", files.html)
        except Exception:
            self.log.warning("could not write the result file or the gameday report", exc_info=True)

    def _replay_earlier_tries(self, store: Store, client: Any, run_uuid: str, ti: Any) -> list[str]:
        """Undo what this task's earlier tries (same map index) left pending."""
        map_index = _map_index(ti)
        mine = []
        for stored in store.records(run_uuid=run_uuid, state="pending"):
            origin = stored.origin
            if origin is None:
                continue  # unreadable: reported by RollbackOperator; not ours to judge here
            if (
                origin.task_id == ti.task_id
                and origin.map_index == map_index
                and (origin.try_number or 0) < ti.try_number
            ):
                mine.append(stored.entry.id)
        if not mine:
            return []
        self.log.info("replaying %d record(s) left pending by earlier tries of this task", len(mine))
        summary = replay(store, client, run_uuid=run_uuid, only=mine, log=self._log_line)
        self.log.info("%s", summary.line())
        if not summary.ok:
            raise AirflowException(
                "records of an earlier try are still pending; not injecting more chaos:\n"
                + "\n".join(f"  {r.entry.id}: {r.description} - {r.message}" for r in summary.pending)
            )
        return mine

    def _undo_own(self, *, deadline: float) -> None:
        journal = self._journal
        if journal is None:
            return
        ids = self._earlier_records + [entry.id for entry in journal.recorded]
        if not ids:
            return
        self.log.warning("undoing %d record(s) of this try", len(ids))
        try:
            summary = replay(
                journal.store,
                self.hook.client,
                run_uuid=journal.run_uuid,
                only=ids,
                retry=RetryPolicy(attempts=2, base_delay=0.1, max_delay=0.5),
                claim_ttl=30.0,
                log=self._log_line,
                should_stop=lambda: time.monotonic() > deadline,
            )
            self.log.warning("%s", summary.line())
        except Exception:
            self.log.exception("undo failed; the records stay pending for RollbackOperator")

    def on_kill(self) -> None:
        """Stop injecting and undo what can be undone in ``kill_grace_seconds``.

        Airflow calls this from the SIGTERM handler and then returns into ``execute``,
        which sees the flag at its next check and raises.
        """
        self._stop.set()
        if self._ctx is not None and self._ctx.changing:
            # A request is in flight; execute undoes everything once it returns.
            self.log.warning("chaos task killed during a change: execute undoes it when the request returns")
            return
        self.log.warning("chaos task killed: stopping and undoing what it can")
        self._undo_own(deadline=time.monotonic() + self.kill_grace_seconds)


def _map_index(ti: Any) -> int | None:
    index = getattr(ti, "map_index", None)
    return index if isinstance(index, int) and index >= 0 else None
