"""``time_scenarios``: skew the clock of pods (through exec) or nodes (through helper pods).

Krkn file shape: ``{time_scenarios: [{action: skew_time | skew_date, object_type: pod |
node, object_name: [...], namespace, container_name, label_selector}]}``. ``skew_time``
sets the clock to 01:01:01 today, ``skew_date`` to 2001-01-01 (the time of day kept).
The clock is the node's: a container may only change it with ``CAP_SYS_TIME``.

* pods — an ``exec`` record that resets the clock in the same container, then the exec
  of the skew command (``object_name`` or ``label_selector`` in ``namespace``; the first
  container when ``container_name`` is empty);
* nodes — per node, a ``create`` record of a cleanup Job pinned to the node that resets
  the clock, a guarded ``delete`` record of a privileged helper pod, then the helper pod,
  which skews the clock, holds, and resets it when it is stopped.

The reset sets the clock from the hardware clock (``hwclock -s``), else steps it through
chrony or ntpd. Hold: ``duration`` seconds (this provider's key; 60 by default).
"""

from __future__ import annotations

import functools
import random
import time
from typing import Any, Literal

from pydantic import Field, model_validator

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.rollback.records import NONCE_LABEL
from krkn_airflow_provider.scenarios import kube, node_jobs, steps
from krkn_airflow_provider.scenarios.base import (
    Scenario,
    ScenarioConfig,
    ScenarioContext,
    entries_under,
    register,
)
from krkn_airflow_provider.scenarios.fields import Seconds
from krkn_airflow_provider.scenarios.plan import Plan, Target
from krkn_airflow_provider.scenarios.steps import EXEC_TIMEOUT

DEFAULT_IMAGE = "busybox:1.36"
HELPER_LABEL = "krkn.io/time-skew"
START_TIMEOUT = 180.0
SKEW = {
    "skew_time": "date -s 01:01:01",
    "skew_date": 'date -s "2001-01-01 $(date +%H:%M:%S)"',
}
RESET = (
    "hwclock -s 2>/dev/null || chronyc -a makestep 2>/dev/null || ntpd -q -n -p pool.ntp.org 2>/dev/null"
    " || { echo 'cannot reset the clock: no hwclock, chronyc or ntpd' >&2; exit 1; }"
)


class TimeScenario(ScenarioConfig):
    action: Literal["skew_time", "skew_date"]
    object_type: Literal["pod", "node"]
    object_name: list[str] = Field(default_factory=list)
    namespace: str = ""
    container_name: str = ""
    label_selector: str = ""
    duration: Seconds = Field(60, ge=0)
    image: str = Field(DEFAULT_IMAGE, min_length=1)

    @model_validator(mode="after")
    def _selection(self) -> TimeScenario:
        if not self.object_name and not self.label_selector:
            raise ValueError("set 'object_name' or 'label_selector' to choose what to skew")
        if self.object_type == "pod" and not self.namespace:
            raise ValueError("set 'namespace' for object_type: pod")
        return self

    @property
    def helper_namespace(self) -> str:
        return self.namespace or "default"


@register
class TimeScenarios(Scenario[TimeScenario]):
    type_name = "time_scenarios"
    namespace_fields = ("namespace",)
    config_model = TimeScenario

    def __init__(self, config: TimeScenario, ctx: ScenarioContext) -> None:
        super().__init__(config, ctx)
        self.jobs: list[tuple[str, dict[str, str]]] = []
        self.skewed_at = 0.0

    @classmethod
    def split_document(cls, document: Any) -> list[Any]:
        return entries_under(document, "time_scenarios")

    def plan(self) -> Plan:
        c = self.config
        if c.object_type == "pod":
            return self._plan_pods()
        client = self.ctx.client
        if c.object_name:
            missing = [name for name in c.object_name if kube.get(client, "v1", "Node", name, None) is None]
            if missing:
                raise ScenarioError(f"object_name: node(s) {', '.join(missing)} do not exist")
            return Plan(tuple(Target("Node", name) for name in c.object_name))
        found = [
            node["metadata"]["name"]
            for node in kube.items(client, "v1", "Node", label_selector=c.label_selector)
        ]
        if not found:
            raise ScenarioError(f"label_selector {c.label_selector!r} matches no node")
        return Plan((Target("Node", random.choice(found)),))  # as Krkn: one node of the selection

    def _container(self, pod: dict[str, Any]) -> str | None:
        """The container of ``pod`` to skew (``container_name``, else its first); ``None``: none."""
        names = [item["name"] for item in (pod.get("spec") or {}).get("containers") or []]
        container = self.config.container_name or (names[0] if names else "")
        return container if container in names else None

    def _plan_pods(self) -> Plan:
        """The ready pods that have the container to skew."""
        c = self.config
        pods = kube.items(
            self.ctx.client, "v1", "Pod", namespace=c.namespace, label_selector=c.label_selector or None
        )
        if c.object_name:
            pods = [pod for pod in pods if pod["metadata"]["name"] in c.object_name]
        targets = [
            Target.of(pod, "Pod") for pod in pods if kube.pod_ready(pod) and self._container(pod) is not None
        ]
        if not targets:
            raise ScenarioError(
                f"no ready pod in namespace {c.namespace!r} matches "
                f"{c.object_name or c.label_selector!r} with container {c.container_name or '(first)'!r}"
            )
        return Plan(tuple(targets))

    def inject(self, plan: Plan) -> None:
        for target in plan:
            if target.kind == "Pod":
                self._skew_pod(target)
            else:
                self._skew_node(target.name)
        self.skewed_at = time.monotonic()

    def _skew_pod(self, target: Target) -> None:
        pod, container = target.obj, self._container(target.obj) or ""
        undo = steps.exec_record(pod, container, RESET, timeout=EXEC_TIMEOUT)
        what = f"{self.config.action} in {target} container {container}"
        self.ctx.change(undo, what, functools.partial(self._exec, pod, container))

    def _exec(self, pod: dict[str, Any], container: str) -> None:
        code, _, errors = steps.exec_in(
            self.ctx, pod, container, ["/bin/sh", "-c", SKEW[self.config.action]], timeout=EXEC_TIMEOUT
        )
        if code not in (0, None):
            raise ScenarioError(
                f"{self.config.action} failed in {kube.pod_key(pod)} container {container} "
                f"(exit code {code}; does it have CAP_SYS_TIME?): {errors.strip()[:300]}"
            )

    def helper_script(self) -> str:
        """Skew, hold until stopped, reset on the way out."""
        return "\n".join(
            [
                f"reset() {{ {RESET}; }}",
                "trap 'reset; exit 0' TERM INT",
                f"{SKEW[self.config.action]} || exit 1",
                "sleep 86400 & wait $!",
                "reset",
            ]
        )

    def _skew_node(self, node: str) -> None:
        c = self.config
        ctx = self.ctx
        namespace = c.helper_namespace
        pod_labels = ctx.journal.object_labels()
        job_labels = ctx.journal.object_labels()
        job_name = f"krkn-time-reset-{job_labels[NONCE_LABEL]}"
        reset = node_jobs.pod_spec(node, c.image, RESET, host_network=False, host_pid=False)
        node_jobs.record_undo_job(
            ctx,
            node_jobs.undo_job(job_name, namespace, job_labels, reset),
            f"create Job {namespace}/{job_name} on {node}: reset the clock",
        )
        self.jobs.append((job_name, job_labels))
        name = f"krkn-time-{pod_labels[NONCE_LABEL]}"
        spec = node_jobs.pod_spec(node, c.image, self.helper_script(), host_network=False, host_pid=False)
        spec["terminationGracePeriodSeconds"] = 30
        spec["tolerations"] = [{"operator": "Exists"}]
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {**pod_labels, HELPER_LABEL: c.action},
            },
            "spec": spec,
        }
        steps.create_object(ctx, body, f"create {c.action} Pod {namespace}/{name} on node {node}")
        if not ctx.dry_run:
            node_jobs.wait_running(ctx, namespace, name, START_TIMEOUT)

    def hold_seconds(self) -> float:
        return float(self.config.duration)

    def recover(self) -> float:
        node_jobs.finish(self.ctx, self.config.helper_namespace, self.jobs, "a skewed clock")
        return time.monotonic() - self.skewed_at
