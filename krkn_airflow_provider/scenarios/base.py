"""The scenario interface, and the runner every scenario type goes through.

A scenario type is one module with one ``Scenario`` subclass, registered under Krkn's
config key (``@register``). The runner drives it through the same steps every time::

    validate config -> plan (read only) -> inject -> hold -> own cleanup -> recovery check

* ``plan()`` only reads the cluster and returns a ``Plan`` (scenarios/plan.py): the
  targets as objects, and how many the selection matched when it picked a subset; a
  selector that matches nothing raises ``ScenarioError`` there, before any change. Every
  entry of a file is planned before the first entry injects anything.
* ``inject(plan)`` makes changes only through ``self.ctx.change(undo, what, apply)``, which
  writes the undo record durably first and skips ``apply`` on a dry run.
* the hold is ``hold_seconds()`` long and ends early (raising ``ScenarioInterrupted``) when
  the stop callable says so; every wait loop goes through ``ctx.wait``/``ctx.poll``.
* cleanup is a replay of exactly the records this scenario wrote, through the same
  code path as ``RollbackOperator``; what it cannot undo stays pending and fails the run.
* ``recover()`` checks the system came back, and returns how long that took.

No Airflow here: the same scenarios run from tests and the command line.
"""

from __future__ import annotations

import inspect
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from krkn_airflow_provider.errors import ConfigError, ScenarioError
from krkn_airflow_provider.rollback import Journal, ReplaySummary, UndoRecord, replay
from krkn_airflow_provider.scenarios.fields import MAX_RUNS
from krkn_airflow_provider.scenarios.plan import Plan
from krkn_airflow_provider.scenarios.safety import BlastRadius, check_plan

Log = Callable[[str], None]
T = TypeVar("T")


class ScenarioInterrupted(ScenarioError):
    """The stop callable fired (the task was killed): nothing more is injected."""


class ScenarioConfig(BaseModel):
    """Base of every config model: unknown keys are errors, Krkn's hyphenated keys allowed."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


def _never() -> bool:
    return False


def _discard(line: str) -> None:
    pass


class EntryObserver(Protocol):
    """What ``run_scenario`` tells at four points of every entry (scenarios/observe.py).

    ``during_hold`` runs on every tick of a hold and may raise to end it early.
    """

    def before_inject(self, ctx: ScenarioContext, index: int, plan: Plan) -> None: ...

    def after_inject(self, ctx: ScenarioContext, index: int) -> None: ...

    def during_hold(self, ctx: ScenarioContext) -> None: ...

    def before_cleanup(self, ctx: ScenarioContext, index: int) -> None: ...

    def after_recover(self, ctx: ScenarioContext, index: int, recovery_seconds: float | None) -> None: ...


class NoObserver:
    """The observer of a run without probes: every call does nothing."""

    def before_inject(self, ctx: ScenarioContext, index: int, plan: Plan) -> None:
        pass

    def after_inject(self, ctx: ScenarioContext, index: int) -> None:
        pass

    def during_hold(self, ctx: ScenarioContext) -> None:
        pass

    def before_cleanup(self, ctx: ScenarioContext, index: int) -> None:
        pass

    def after_recover(self, ctx: ScenarioContext, index: int, recovery_seconds: float | None) -> None:
        pass


@dataclass
class ScenarioContext:
    """What a scenario gets: a Kubernetes client, the journal, a log and a stop flag.

    :param client: a ``kubernetes.dynamic.DynamicClient``.
    :param journal: where undo records go; ``journal.dry_run`` makes every change a no-op.
    :param log: receives one progress line at a time.
    :param should_stop: polled by every wait; ``True`` ends the scenario early.
    :param poll_interval: seconds between two checks of a condition.
    :param limits: the blast radius (``max_targets``, ``max_percent``, protected
        namespaces), checked by the runner after each plan and by ``change`` per record.
    :param allow_secret_values: delete objects whose re-creation record would hold
        literal credentials (env values, tokens in args or annotations); refused by default.
    """

    client: Any
    journal: Journal
    log: Log = _discard
    should_stop: Callable[[], bool] = _never
    poll_interval: float = 0.5
    changing: bool = field(default=False, init=False)
    # Steady-state probes and recovery times (scenarios/observe.py); by default none.
    observer: EntryObserver = field(default_factory=NoObserver)
    limits: BlastRadius = field(default_factory=BlastRadius)
    # Record manifests holding literal credentials (scenarios/sensitive.py); refused by default.
    allow_secret_values: bool = False
    # Dead man's switch: pods a scenario creates end by themselves this long after their
    # hold (``activeDeadlineSeconds``), even when no task is left to delete them.
    dead_man_seconds: float = 120.0

    @property
    def dry_run(self) -> bool:
        return self.journal.dry_run

    def pod_deadline(self, hold_seconds: float) -> int:
        """``activeDeadlineSeconds`` for a pod that must not outlive a hold of ``hold_seconds``."""
        return max(1, math.ceil(hold_seconds + self.dead_man_seconds))

    def resource(self, api_version: str, kind: str) -> Any:
        return self.client.resources.get(api_version=api_version, kind=kind)

    def check_stop(self) -> None:
        if self.should_stop():
            raise ScenarioInterrupted("stopped: the task was asked to stop")

    def change(self, undo: UndoRecord | None, what: str, apply: Callable[[], T]) -> T | None:
        """Record ``undo`` durably, then ``apply`` the change it undoes.

        ``undo`` is ``None`` for a change with nothing to undo (a pod a controller
        recreates). If the record cannot be written, the change is not made.
        """
        self.check_stop()
        if undo is not None:
            self.limits.refuse_namespace(undo.namespace, f"the change '{what}'")
            self.journal.record(undo)
        if self.dry_run:
            self.log(f"dry run: would {what}")
            return None
        self.check_stop()  # killed while the record was written: do not make the change
        self.log(what)
        self.changing = True
        try:
            return apply()
        finally:
            self.changing = False

    def wait(self, seconds: float, what: str) -> None:
        """Sleep ``seconds``, checking the stop flag at least every ``poll_interval``.

        A dry run does not wait: it logs the hold it would make and returns.
        """
        if seconds <= 0:
            return
        if self.dry_run:
            # A dry run plans and prints: nothing was injected, so there is nothing to hold.
            self.log(f"dry run: would hold for {seconds:g} s ({what})")
            return
        self.log(f"{what}: holding for {seconds:g} s")
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.check_stop()
            self.observer.during_hold(self)
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(self.poll_interval, left))
        self.check_stop()

    def undo(self, record_ids: list[str], *, check: bool = True) -> ReplaySummary:
        """Undo the given records of this run now (newest first), as a rollback would.

        Logs the replay's line; raises ``ReplayIncomplete`` when a record stays pending,
        unless ``check`` is false (the caller raises its own error naming the line).
        """
        replayed = cleanup(self, record_ids)
        self.log(replayed.line())
        if check:
            replayed.raise_if_incomplete()
        return replayed

    def poll(self, check: Callable[[], bool], *, timeout: float, what: str) -> float:
        """Wait until ``check()`` is true; returns the seconds it took, raises on timeout."""
        started = time.monotonic()
        while True:
            self.check_stop()
            if check():
                return time.monotonic() - started
            if time.monotonic() - started >= timeout:
                raise ScenarioError(f"{what}: not reached within {timeout:g} s")
            time.sleep(self.poll_interval)


ConfigT = TypeVar("ConfigT", bound=ScenarioConfig)


class Scenario(ABC, Generic[ConfigT]):
    """One entry of a Krkn scenario file, run against one cluster.

    Subclasses set ``type_name`` (Krkn's config key) and ``config_model`` and implement
    ``plan``, ``inject`` and, when there is something to wait for, ``hold_seconds`` and
    ``recover``. See docs/scenarios.md.
    """

    type_name: ClassVar[str]
    config_model: ClassVar[type[ScenarioConfig]]
    # Config fields naming a namespace the scenario writes into besides its targets'
    # (helper pods, policies); the runner refuses a protected one.
    namespace_fields: ClassVar[tuple[str, ...]] = ()
    # Attributes ``recover`` needs after the hold (JSON values). A deferred hold carries
    # them to the resumed task, which may run on another worker; a type that sets
    # ``deferrable = False`` holds in the worker instead.
    carried: ClassVar[tuple[str, ...]] = ()
    deferrable: ClassVar[bool] = False

    def __init__(self, config: ConfigT, ctx: ScenarioContext) -> None:
        self.config = config
        self.ctx = ctx

    def check_blast_radius(self, plan: Plan) -> None:
        """Refuse a plan beyond ``ctx.limits``; the runner calls it before ``inject``."""
        values = (getattr(self.config, name, None) for name in self.namespace_fields)
        namespaces = tuple(value for value in values if isinstance(value, str))
        check_plan(self.ctx.limits, plan, namespaces=namespaces)

    @classmethod
    def split_document(cls, document: Any) -> list[Any]:
        """The entries of one scenario file: a list holds several, anything else is one."""
        if isinstance(document, list):
            return list(document)
        return [document]

    @classmethod
    def entry_config(cls, entry: Any) -> Any:
        """The part of one entry the config model validates (override to unwrap a key)."""
        return entry

    @abstractmethod
    def plan(self) -> Plan:
        """Read the cluster and return the targets (``plan.pick`` for a random subset).

        Raise ``ScenarioError`` when nothing matches. Must not change anything.
        """

    @abstractmethod
    def inject(self, plan: Plan) -> None:
        """Make the changes to ``plan``'s targets, each through ``self.ctx.change(undo, what, apply)``."""

    def hold_seconds(self) -> float:
        """How long the fault stays in place before cleanup."""
        return 0.0

    def recover(self) -> float:
        """Check the system recovered after cleanup; return the seconds it took.

        Uses what ``inject`` kept (and ``carried`` across a deferred hold), not the plan.
        """
        return 0.0

    def carry(self) -> dict[str, Any]:
        """The ``carried`` attributes, for a deferred hold."""
        return {name: getattr(self, name) for name in self.carried}

    def restore(self, state: dict[str, Any]) -> None:
        """Set the ``carried`` attributes from ``carry()``'s output (unknown keys ignored)."""
        for name in self.carried:
            if name in state:
                setattr(self, name, state[name])


_REGISTRY: dict[str, type[Scenario[Any]]] = {}

S = TypeVar("S", bound=type[Scenario[Any]])


def register(cls: S) -> S:
    """Class decorator: make a scenario type available under its ``type_name``."""
    existing = _REGISTRY.get(cls.type_name)
    if existing is not None and existing is not cls and not _same_source(existing, cls):
        raise ValueError(f"scenario type {cls.type_name!r} is already registered by {existing.__name__}")
    _REGISTRY[cls.type_name] = cls
    return cls


def _same_source(one: type, other: type) -> bool:
    """The same class from the same file, imported again (Airflow re-parses DAG files)."""
    try:
        return one.__qualname__ == other.__qualname__ and inspect.getfile(one) == inspect.getfile(other)
    except (TypeError, OSError):
        return False


def entries_under(document: Any, key: str) -> list[Any]:
    """The entries of a Krkn file shaped ``{key: [entry, ...]}``.

    A document of another shape comes back whole, for the config model to refuse by name.
    """
    if isinstance(document, dict) and set(document) == {key}:
        entries = document[key]
        return list(entries) if isinstance(entries, list) else [entries]
    return [document]


def entries_with_runs(document: Any, key: str) -> list[Any]:
    """The entries under ``key`` of a Krkn file, each repeated by its ``runs`` count.

    A document of another shape comes back whole, for the config model to refuse by name.
    """
    if not isinstance(document, dict) or set(document) != {key}:
        return [document]
    entries = document[key]
    if not isinstance(entries, list):
        return [entries]
    expanded: list[Any] = []
    for entry in entries:
        runs = entry.get("runs", 1) if isinstance(entry, dict) else 1
        if isinstance(runs, str) and runs.strip().isdigit():
            runs = int(runs)
        # Checked before the entry is repeated: ``runs: 10**9`` must not allocate first.
        if isinstance(runs, int) and not isinstance(runs, bool) and runs > MAX_RUNS:
            raise ConfigError(
                f"key 'runs': at most {MAX_RUNS} (got {runs}); schedule the DAG more often instead"
            )
        expanded.extend(
            [entry] * (runs if isinstance(runs, int) and not isinstance(runs, bool) and runs > 1 else 1)
        )
    return expanded


def known_types() -> list[str]:
    return sorted(_REGISTRY)


def scenario_class(type_name: str) -> type[Scenario[Any]]:
    try:
        return _REGISTRY[type_name]
    except KeyError:
        raise ConfigError(
            f"unknown scenario type {type_name!r}; known types: {', '.join(known_types())}"
        ) from None


def _explain(error: ValidationError, source: str, entry: int, total: int) -> str:
    where = f"{source}, entry {entry + 1}" if total > 1 else source
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(whole entry)"
        if item["type"] == "extra_forbidden":
            problems.append(f"unknown key {key!r}")
        elif item["type"] == "missing":
            problems.append(f"missing key {key!r}")
        else:
            problems.append(f"key {key!r}: {item['msg']} (got {item.get('input')!r})")
    return f"{where}: " + "; ".join(problems)


def load_configs(type_name: str, document: Any, *, source: str = "scenario config") -> list[ScenarioConfig]:
    """Validate a Krkn scenario document (already parsed YAML) for ``type_name``.

    :param source: names the file in error messages.
    """
    cls = scenario_class(type_name)
    if document is None or document == [] or document == {}:
        raise ConfigError(f"{source}: the scenario file is empty")
    try:
        entries = cls.split_document(document)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
    configs = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ConfigError(
                f"{source}: entry {index + 1} must be a mapping of keys, got {type(entry).__name__}"
            )
        try:
            configs.append(cls.config_model.model_validate(cls.entry_config(entry)))
        except ValidationError as error:
            raise ConfigError(_explain(error, source, index, len(entries))) from None
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}") from None
    return configs


@dataclass
class EntryResult:
    """What one entry did: its targets (as shown), records, cleanup and recovery."""

    index: int
    targets: list[str]
    records: list[str] = field(default_factory=list)
    cleanup: str = ""
    recovery_seconds: float | None = None
    plan: Plan | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "entry": self.index + 1,
            "targets": self.targets,
            "records": self.records,
            "cleanup": self.cleanup,
            "recovery_seconds": None if self.recovery_seconds is None else round(self.recovery_seconds, 3),
        }


@dataclass
class ScenarioSummary:
    scenario: str
    run_uuid: str
    dry_run: bool
    entries: list[EntryResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "run_uuid": self.run_uuid,
            "dry_run": self.dry_run,
            "targets": [target for entry in self.entries for target in entry.targets],
            "records": [record for entry in self.entries for record in entry.records],
            "recovery_seconds": sum(entry.recovery_seconds or 0.0 for entry in self.entries),
            "entries": [entry.to_dict() for entry in self.entries],
        }


def cleanup(ctx: ScenarioContext, record_ids: list[str]) -> ReplaySummary:
    """Undo the given records of this run (newest first), as a rollback would."""
    return replay(
        ctx.journal.store,
        ctx.client,
        run_uuid=ctx.journal.run_uuid,
        only=record_ids,
        log=ctx.log,
    )


def plan_entries(
    type_name: str, document: Any, ctx: ScenarioContext, *, source: str = "scenario config"
) -> tuple[list[Scenario[Any]], Plan]:
    """Build every entry of a document and plan them all (no change); the first entry's plan."""
    cls = scenario_class(type_name)
    configs = load_configs(type_name, document, source=source)
    scenarios = [cls(config, ctx) for config in configs]
    plans = []
    for index, scenario in enumerate(scenarios):
        try:
            plan = scenario.plan()
            scenario.check_blast_radius(plan)
            plans.append(plan)
        except ScenarioError as error:
            where = f"{source}, entry {index + 1}" if len(scenarios) > 1 else source
            raise type(error)(f"{where}: {error}") from error  # keeps BlastRadiusExceeded
    return scenarios, plans[0]


def inject_entry(
    type_name: str,
    scenarios: list[Scenario[Any]],
    index: int,
    ctx: ScenarioContext,
    *,
    targets: Plan | None = None,
    source: str = "scenario config",
) -> EntryResult:
    """Inject one entry (planning it again unless ``targets`` is given); the hold comes next."""
    scenario = scenarios[index]
    plan = targets
    if plan is None:
        # Later entries plan again: earlier ones changed the cluster.
        plan = scenario.plan()
        try:
            scenario.check_blast_radius(plan)
        except ScenarioError as error:
            raise type(error)(f"{source}, entry {index + 1}: {error}") from error
    result = EntryResult(index, plan.names(), plan=plan)
    ctx.log(f"{type_name} entry {index + 1}/{len(scenarios)}: {len(plan)} target(s)")
    for target in result.targets:
        ctx.log(f"  target {target}")
    already = len(ctx.journal.recorded)
    ctx.observer.before_inject(ctx, index, plan)
    scenario.inject(plan)
    result.records = [entry.id for entry in ctx.journal.recorded[already:]]
    ctx.observer.after_inject(ctx, index)
    return result


def finish_entry(type_name: str, scenario: Scenario[Any], result: EntryResult, ctx: ScenarioContext) -> None:
    """After the hold: undo the entry's own records, then check the system recovered."""
    ctx.observer.before_cleanup(ctx, result.index)
    if result.records:
        ctx.log(f"cleanup: undoing {len(result.records)} record(s) of this entry")
        result.cleanup = ctx.undo(result.records).line()
    if ctx.dry_run:
        return
    result.recovery_seconds = scenario.recover()
    ctx.log(f"recovered in {result.recovery_seconds:.2f} s")
    ctx.observer.after_recover(ctx, result.index, result.recovery_seconds)


def run_scenario(
    type_name: str, document: Any, ctx: ScenarioContext, *, source: str = "scenario config"
) -> ScenarioSummary:
    """Run every entry of a scenario document: plan all, then inject, hold, clean up, check."""
    scenarios, first = plan_entries(type_name, document, ctx, source=source)
    summary = ScenarioSummary(type_name, ctx.journal.run_uuid, ctx.dry_run)
    for index, scenario in enumerate(scenarios):
        targets = first if index == 0 else None
        result = inject_entry(type_name, scenarios, index, ctx, targets=targets, source=source)
        summary.entries.append(result)
        ctx.wait(scenario.hold_seconds(), f"{type_name} entry {index + 1}")
        finish_entry(type_name, scenario, result, ctx)
    return summary
