"""``container_scenarios``: send a signal to containers through ``pods/exec``.

Krkn file shape: ``{scenarios: [{name, namespace, label_selector, container_name, action,
count, expected_recovery_time, exclude_label}]}``. ``namespace`` is a regular expression
over namespace names; ``count`` matching pods are picked at random and ``action`` (for
example ``kill 1``) runs in ``container_name`` (every container when empty) through
``/bin/sh -c``. The kubelet restarts a killed container, so a kill has nothing to undo:
it goes through ``ctx.change`` with no record. Recovery: each killed container's restart
count rose and its pod is ready again within ``expected_recovery_time`` seconds.
"""

from __future__ import annotations

import functools
import re
import time
from typing import Any

from pydantic import Field, field_validator, model_validator

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.scenarios import kube, steps
from krkn_airflow_provider.scenarios.base import (
    Scenario,
    ScenarioConfig,
    ScenarioContext,
    entries_under,
    register,
)
from krkn_airflow_provider.scenarios.fields import Count, Seconds
from krkn_airflow_provider.scenarios.plan import Plan
from krkn_airflow_provider.scenarios.select import pick_pods
from krkn_airflow_provider.scenarios.steps import EXEC_TIMEOUT


class ContainerScenario(ScenarioConfig):
    name: str = ""
    namespace: str = Field(min_length=1)
    label_selector: str = Field(min_length=1)
    container_name: str = ""
    # Krkn's current shape is a signal number (1-15) and it sends ``kill <action>``;
    # older files give the command itself (``kill 1``). Both are accepted.
    action: str = Field("kill 1", min_length=1)
    count: Count = Field(1, ge=1)
    expected_recovery_time: Seconds = Field(120, ge=0)
    exclude_label: str = ""

    @field_validator("action", mode="before")
    @classmethod
    def _signal_number(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("expected a signal number (1-15) or a command, got true/false")
        if isinstance(value, int):
            if not 1 <= value <= 15:
                raise ValueError(f"a signal number must be 1-15 (as in Krkn), got {value}")
            return f"kill {value}"
        return value

    @model_validator(mode="after")
    def _check(self) -> ContainerScenario:
        try:
            re.compile(self.namespace)
        except re.error as error:
            raise ValueError(f"'namespace' is not a regular expression: {error}") from None
        if self.exclude_label:
            kube.label_pair(self.exclude_label, key="exclude_label")
        return self


def restart_counts(pod: dict[str, Any]) -> dict[str, int]:
    return {
        status["name"]: int(status.get("restartCount") or 0)
        for status in (pod.get("status") or {}).get("containerStatuses") or []
    }


@register
class Container(Scenario[ContainerScenario]):
    type_name = "container_scenarios"
    config_model = ContainerScenario

    def __init__(self, config: ContainerScenario, ctx: ScenarioContext) -> None:
        super().__init__(config, ctx)
        self.killed: list[tuple[dict[str, Any], list[str]]] = []  # (pod as planned, containers)
        self.killed_at = 0.0

    @classmethod
    def split_document(cls, document: Any) -> list[Any]:
        return entries_under(document, "scenarios")

    def containers(self, pod: dict[str, Any]) -> list[str]:
        names = [container["name"] for container in (pod.get("spec") or {}).get("containers") or []]
        if self.config.container_name:
            return [name for name in names if name == self.config.container_name]
        return names

    def plan(self) -> Plan:
        c = self.config
        namespaces = kube.namespaces_matching(self.ctx.client, c.namespace)
        if not namespaces:
            raise ScenarioError(f"namespace {c.namespace!r} matches no namespace")
        exclude = kube.label_pair(c.exclude_label, key="exclude_label") if c.exclude_label else None
        pods = [
            pod
            for namespace in namespaces
            for pod in kube.items(
                self.ctx.client, "v1", "Pod", namespace=namespace, label_selector=c.label_selector
            )
            if kube.pod_ready(pod) and not kube.has_label(pod, exclude) and self.containers(pod)
        ]
        selection = f"namespace={c.namespace!r} label_selector={c.label_selector!r}"
        if c.container_name:
            selection += f" container_name={c.container_name!r}"
        return pick_pods(self.ctx.limits, pods, c.count, key="count", noun="ready pod", selection=selection)

    def command(self) -> list[str]:
        return ["/bin/sh", "-c", self.config.action]

    def inject(self, plan: Plan) -> None:
        for target in plan:
            pod, containers = target.obj, list[str]()
            self.killed.append((pod, containers))
            for container in self.containers(pod):
                what = f"run {self.config.action!r} in {target} container {container}"
                self.ctx.change(None, what, functools.partial(self._exec, pod, container))
                containers.append(container)
        self.killed_at = time.monotonic()

    def _exec(self, pod: dict[str, Any], container: str) -> None:
        code, _, errors = steps.exec_in(self.ctx, pod, container, self.command(), timeout=EXEC_TIMEOUT)
        # A killed main process can take the exec session with it: only a clear refusal fails.
        if code not in (0, None, 137, 143) and errors.strip():
            raise ScenarioError(
                f"{self.config.action!r} failed in {kube.pod_key(pod)} container {container}: "
                f"exit code {code}: {errors.strip()[:300]}"
            )

    def recover(self) -> float:
        def recovered() -> bool:
            for pod, containers in self.killed:
                metadata = pod["metadata"]
                current = kube.get(self.ctx.client, "v1", "Pod", metadata["name"], metadata["namespace"])
                if current is None or not kube.pod_ready(current):
                    return False
                before, now = restart_counts(pod), restart_counts(current)
                if any(now.get(name, 0) <= before.get(name, 0) for name in containers):
                    return False
            return True

        timeout = float(self.config.expected_recovery_time)
        self.ctx.poll(recovered, timeout=timeout, what="killed containers restarted and ready")
        return time.monotonic() - self.killed_at
