"""Watch a scenario run: steady-state probes and recovery times.

``run_scenario`` calls an observer at four points of every entry::

    before_inject -> [inject] -> after_inject -> [hold: during_hold on every tick]
        -> before_cleanup -> [cleanup, recover] -> after_recover

``Observer`` checks the probes before injection (a probe that does not hold: nothing is
injected), every ``interval`` seconds during the hold (a failure undoes this entry's
records at once and raises ``ProbeFailed``), and after recovery (they must hold again
within ``recovery_timeout``). For targets that are pods it samples the pods in a thread
and measures, from the start of injection: the first replacement pod, all pods ready
again, and the probes passing again. No Airflow here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from krkn_airflow_provider.errors import KrknError
from krkn_airflow_provider.scenarios import kube
from krkn_airflow_provider.scenarios.base import ScenarioContext
from krkn_airflow_provider.scenarios.plan import Plan, Target
from krkn_airflow_provider.scenarios.probes import (
    HttpProbe,
    PodsProbe,
    ProbeFailed,
    ProbeResult,
    PrometheusProbe,
    check_all,
)

Spec = PodsProbe | HttpProbe | PrometheusProbe
MAX_PROBE_RESULTS = 500


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Recovery:
    """Recovery times of one entry, in seconds from the start of injection."""

    entry: int
    injected_at: str = ""
    first_replacement_seconds: float | None = None
    all_ready_seconds: float | None = None
    probes_passing_seconds: float | None = None
    scenario_recovery_seconds: float | None = None
    pod_targets: int = 0

    def to_dict(self) -> dict[str, Any]:
        def r(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {
            "entry": self.entry + 1,
            "injected_at": self.injected_at,
            "pod_targets": self.pod_targets,
            "first_replacement_seconds": r(self.first_replacement_seconds),
            "all_ready_seconds": r(self.all_ready_seconds),
            "probes_passing_seconds": r(self.probes_passing_seconds),
            "scenario_recovery_seconds": r(self.scenario_recovery_seconds),
        }


@dataclass
class _Group:
    """Pods that replace each other: one controller's pods in a namespace, or one bare pod."""

    namespace: str
    owner_uid: str | None
    bare_name: str | None
    expected_ready: int
    original_uids: set[str] = field(default_factory=set)

    def members(self, pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
        found = []
        for pod in pods:
            metadata = pod.get("metadata") or {}
            owned = self.owner_uid is not None and _controller_uid(pod) == self.owner_uid
            if owned or (self.bare_name is not None and metadata.get("name") == self.bare_name):
                found.append(pod)
        return found


def _controller_uid(pod: dict[str, Any]) -> str | None:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


class _PodWatch:
    """Samples the target pods' groups in a thread and notes when they came back."""

    def __init__(self, client: Any, targets: Iterable[Target], *, interval: float = 0.1) -> None:
        self.client = client
        self.interval = interval
        self.groups: list[_Group] = []
        self.target_uids: set[str] = set()
        self.gone: set[str] = set()
        self.started = 0.0
        self.first_replacement: float | None = None
        self.all_ready: float | None = None
        self.error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._prepare(targets)

    def _prepare(self, targets: Iterable[Target]) -> None:
        wanted: dict[str, set[str]] = {}
        for target in targets:
            if target.kind == "Pod" and target.namespace:
                wanted.setdefault(target.namespace, set()).add(target.name)
        for namespace, names in wanted.items():
            pods = kube.items(self.client, "v1", "Pod", namespace=namespace)
            seen: set[str | None] = set()
            for pod in pods:
                metadata = pod["metadata"]
                if metadata["name"] not in names:
                    continue
                self.target_uids.add(str(metadata.get("uid")))
                owner = _controller_uid(pod)
                if owner is not None and owner in seen:
                    continue
                seen.add(owner)
                group = _Group(namespace, owner, None if owner else metadata["name"], 0)
                members = group.members(pods)
                group.expected_ready = sum(1 for member in members if kube.pod_ready(member))
                group.original_uids = {str(member["metadata"].get("uid")) for member in members}
                self.groups.append(group)

    @property
    def pod_targets(self) -> int:
        return len(self.target_uids)

    def start(self, started: float) -> None:
        self.started = started
        if not self.groups:
            return
        self._thread = threading.Thread(target=self._loop, name="krkn-recovery-watch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except KrknError as error:
                self.error = str(error)
            if self.all_ready is not None:
                return
            self._stop.wait(self.interval)

    def sample(self) -> None:
        now = time.monotonic() - self.started
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for group in self.groups:
            if group.namespace not in by_namespace:
                by_namespace[group.namespace] = kube.items(
                    self.client, "v1", "Pod", namespace=group.namespace
                )
        live = {
            str(pod["metadata"].get("uid"))
            for pods in by_namespace.values()
            for pod in pods
            if not pod["metadata"].get("deletionTimestamp")
        }
        self.gone |= self.target_uids - live
        replaced = False
        ready_everywhere = True
        for group in self.groups:
            members = group.members(by_namespace[group.namespace])
            for member in members:
                if str(member["metadata"].get("uid")) not in group.original_uids:
                    replaced = True
            ready = sum(
                1
                for member in members
                if kube.pod_ready(member) and str(member["metadata"].get("uid")) not in self.gone
            )
            ready_everywhere &= ready >= group.expected_ready
        if replaced and self.first_replacement is None:
            self.first_replacement = now
        if ready_everywhere and self.all_ready is None:
            self.all_ready = now

    def wait(self, timeout: float) -> None:
        if self._thread is None:
            return
        self._thread.join(timeout)
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)


class Observer:
    """Steady-state probes and recovery measurement for one task's scenario run.

    :param probes: the probes (see ``probes.parse_probes``).
    :param interval: seconds between two checks during the hold.
    :param recovery_timeout: seconds, after the scenario's own recovery check, for the pods
        to be ready and the probes to hold again.
    """

    def __init__(
        self, probes: list[Spec] | None = None, *, interval: float = 5.0, recovery_timeout: float = 300.0
    ):
        self.probes = list(probes or [])
        self.interval = interval
        self.recovery_timeout = recovery_timeout
        self.results: list[ProbeResult] = []
        self.recoveries: list[Recovery] = []
        self.failures = 0
        self._holding = False
        self._next_check = 0.0
        self._injected = 0.0
        self._already = 0
        self._watch: _PodWatch | None = None
        self._current: Recovery | None = None

    # -- results -----------------------------------------------------------------------

    def _keep(self, results: list[ProbeResult]) -> list[ProbeResult]:
        for result in results:
            if not result.ok:
                self.failures += 1
            if len(self.results) < MAX_PROBE_RESULTS:
                self.results.append(result)
        return results

    def probe_results(self) -> list[dict[str, Any]]:
        return [result.to_dict() for result in self.results]

    def recovery(self) -> list[dict[str, Any]]:
        return [item.to_dict() for item in self.recoveries]

    def close(self) -> None:
        """Stop the pod sampler (the task ended early)."""
        if self._watch is not None:
            self._watch.stop()

    # -- hooks called by run_scenario --------------------------------------------------

    def before_inject(self, ctx: ScenarioContext, index: int, plan: Plan) -> None:
        self._already = len(ctx.journal.recorded)
        results = self._keep(check_all(self.probes, ctx.client, phase="before"))
        bad = [result for result in results if not result.ok]
        for result in results:
            verdict = "ok" if result.ok else "FAILED"
            ctx.log(f"probe before injection: {result.probe}: {verdict} ({result.message})")
        if bad:
            raise ProbeFailed(
                "steady state does not hold before injection, nothing was changed: "
                + "; ".join(f"{result.probe}: {result.message}" for result in bad)
            )
        self._current = Recovery(index)
        self.recoveries.append(self._current)
        self._watch = None
        if not ctx.dry_run:
            self._watch = _PodWatch(ctx.client, plan)
            self._current.pod_targets = self._watch.pod_targets
        self._injected = time.monotonic()
        self._current.injected_at = _now()

    def after_inject(self, ctx: ScenarioContext, index: int) -> None:
        if self._watch is not None:
            self._watch.start(self._injected)
        self._holding = not ctx.dry_run
        self._next_check = 0.0

    def during_hold(self, ctx: ScenarioContext) -> None:
        if not self._holding or not self.probes or time.monotonic() < self._next_check:
            return
        self._next_check = time.monotonic() + self.interval
        results = self._keep(check_all(self.probes, ctx.client, phase="hold"))
        bad = [result for result in results if not result.ok]
        if not bad:
            return
        reason = "; ".join(f"{result.probe}: {result.message}" for result in bad)
        self.hold_failed(ctx, reason, [entry.id for entry in ctx.journal.recorded[self._already :]])

    def hold_failed(self, ctx: ScenarioContext, reason: str, mine: list[str]) -> None:
        """A probe failed during the hold: undo the entry's records ``mine`` now and raise."""
        self._holding = False
        ctx.log(f"probe FAILED during the hold: {reason}; aborting and undoing this entry now")
        message = f"steady state lost during the hold: {reason}"
        if mine:
            message += f"; {ctx.undo(mine, check=False).line()}"
        if self._watch is not None:
            self._watch.stop()
        raise ProbeFailed(message)

    def resume(
        self,
        ctx: ScenarioContext,
        index: int,
        targets: list[str],
        *,
        injected_at: str,
        hold_results: list[dict[str, Any]],
    ) -> None:
        """Pick up an entry after a deferred hold: the probes' hold results, the injection time.

        The pod sampler starts now (the process that injected may be gone), so replacement
        times are seen from here on, still counted from the injection.
        """
        for item in hold_results:
            self._keep([ProbeResult(**item)])
        self._current = Recovery(index, injected_at=injected_at)
        self.recoveries.append(self._current)
        try:
            elapsed = max(0.0, (datetime.now(UTC) - datetime.fromisoformat(injected_at)).total_seconds())
        except ValueError:
            elapsed = 0.0
        self._injected = time.monotonic() - elapsed
        self._watch = None
        if not ctx.dry_run:
            # The targets come back as the lines the hold carried: read them as targets again.
            self._watch = _PodWatch(ctx.client, Plan.parse(targets))
            self._current.pod_targets = self._watch.pod_targets
            self._watch.start(self._injected)

    def injected_at(self) -> str:
        """When the current entry was injected (ISO time), for a deferred hold."""
        return self._current.injected_at if self._current is not None else _now()

    def before_cleanup(self, ctx: ScenarioContext, index: int) -> None:
        self._holding = False

    def after_recover(self, ctx: ScenarioContext, index: int, recovery_seconds: float | None) -> None:
        current = self._current
        if current is None:
            return
        current.scenario_recovery_seconds = recovery_seconds
        deadline = time.monotonic() + self.recovery_timeout
        watch = self._watch
        if watch is not None:
            watch.wait(max(0.0, deadline - time.monotonic()))
            current.first_replacement_seconds = watch.first_replacement
            current.all_ready_seconds = watch.all_ready
            if watch.groups and watch.all_ready is None:
                ctx.log(f"pods not all ready again within {self.recovery_timeout:g} s {watch.error}".rstrip())
        if self.probes:
            while True:
                ctx.check_stop()
                results = check_all(self.probes, ctx.client, phase="after")
                if all(result.ok for result in results):
                    self._keep(results)
                    current.probes_passing_seconds = time.monotonic() - self._injected
                    break
                if time.monotonic() >= deadline:
                    self._keep(results)
                    reason = "; ".join(f"{r.probe}: {r.message}" for r in results if not r.ok)
                    raise ProbeFailed(f"steady state not back within {self.recovery_timeout:g} s: {reason}")
                time.sleep(min(ctx.poll_interval, max(0.0, deadline - time.monotonic())))
        ctx.log(
            "recovery: "
            + ", ".join(f"{k}={v}" for k, v in current.to_dict().items() if k.endswith("seconds"))
        )
