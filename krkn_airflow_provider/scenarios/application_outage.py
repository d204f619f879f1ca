"""``application_outages_scenarios``: cut pods off the network with a deny-all NetworkPolicy.

Krkn file shape: ``{application_outage: {duration, namespace, pod_selector, block,
exclude_label}}``. The policy selects ``pod_selector`` (minus ``exclude_label``) and has
no rules for the blocked directions, so all such traffic is denied. Its ``delete`` record
(guarded by the policy's labels) is written before it is created.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field, model_validator

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.rollback.records import NONCE_LABEL
from krkn_airflow_provider.scenarios import kube, steps
from krkn_airflow_provider.scenarios.base import Scenario, ScenarioConfig, ScenarioContext, register
from krkn_airflow_provider.scenarios.fields import Seconds
from krkn_airflow_provider.scenarios.plan import Plan, Target

POLICY_API = "networking.k8s.io/v1"
Direction = Literal["Ingress", "Egress"]
DIRECTIONS: tuple[Direction, ...] = ("Ingress", "Egress")


class ApplicationOutageConfig(ScenarioConfig):
    namespace: str = Field(min_length=1)
    pod_selector: dict[str, str] = Field(min_length=1)
    duration: Seconds = Field(600, ge=0)
    block: list[Direction] = Field(default_factory=lambda: list(DIRECTIONS), min_length=1)
    exclude_label: str = ""

    @model_validator(mode="after")
    def _exclude(self) -> ApplicationOutageConfig:
        if self.exclude_label:
            kube.label_pair(self.exclude_label, key="exclude_label")
        return self


class ApplicationOutageEntry(ScenarioConfig):
    application_outage: ApplicationOutageConfig


@register
class ApplicationOutage(Scenario[ApplicationOutageEntry]):
    type_name = "application_outages_scenarios"
    config_model = ApplicationOutageEntry
    deferrable = True
    carried = ("policy_name", "ready_before")

    def __init__(self, config: ApplicationOutageEntry, ctx: ScenarioContext) -> None:
        super().__init__(config, ctx)
        self.settings = config.application_outage
        self.policy_name = ""
        self.ready_before = 0
        self.created_at = 0.0

    def _exclude(self) -> tuple[str, str] | None:
        s = self.settings
        return kube.label_pair(s.exclude_label, key="exclude_label") if s.exclude_label else None

    def _pods(self) -> list[dict[str, Any]]:
        s = self.settings
        pods = kube.items(
            self.ctx.client,
            "v1",
            "Pod",
            namespace=s.namespace,
            label_selector=kube.selector_string(s.pod_selector),
        )
        exclude = self._exclude()
        return [pod for pod in pods if not kube.has_label(pod, exclude)]

    def plan(self) -> Plan:
        s = self.settings
        if kube.get(self.ctx.client, "v1", "Namespace", s.namespace, None) is None:
            raise ScenarioError(f"namespace {s.namespace!r} does not exist")
        pods = self._pods()
        if not pods:
            raise ScenarioError(f"pod_selector {s.pod_selector} matches no pod in namespace {s.namespace!r}")
        self.ready_before = sum(1 for pod in pods if kube.pod_ready(pod))
        return Plan(tuple(Target.of(pod, "Pod") for pod in pods))

    def policy(self, labels: dict[str, str]) -> dict[str, Any]:
        s = self.settings
        selector: dict[str, Any] = {"matchLabels": dict(s.pod_selector)}
        exclude = self._exclude()
        if exclude is not None:
            selector["matchExpressions"] = [{"key": exclude[0], "operator": "NotIn", "values": [exclude[1]]}]
        return {
            "apiVersion": POLICY_API,
            "kind": "NetworkPolicy",
            "metadata": {"name": self.policy_name, "namespace": s.namespace, "labels": labels},
            # No ingress/egress rules for the listed directions: all of that traffic is denied.
            "spec": {"podSelector": selector, "policyTypes": list(s.block)},
        }

    def inject(self, plan: Plan) -> None:
        s = self.settings
        labels = self.ctx.journal.object_labels()
        self.policy_name = f"krkn-outage-{labels[NONCE_LABEL]}"
        blocked = "+".join(s.block)
        where = f"{s.namespace}/{self.policy_name}"
        what = f"create NetworkPolicy {where} blocking {blocked} of {len(plan)} pod(s)"
        steps.create_object(self.ctx, self.policy(labels), what)
        self.created_at = time.monotonic()

    def hold_seconds(self) -> float:
        return float(self.settings.duration)

    def recover(self) -> float:
        s = self.settings

        def recovered() -> bool:
            if (
                kube.get(self.ctx.client, POLICY_API, "NetworkPolicy", self.policy_name, s.namespace)
                is not None
            ):
                return False
            return sum(1 for pod in self._pods() if kube.pod_ready(pod)) >= self.ready_before

        return self.ctx.poll(recovered, timeout=120.0, what="policy removed and pods ready")
