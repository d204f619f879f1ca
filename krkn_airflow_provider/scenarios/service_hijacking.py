"""``service_hijacking_scenarios``: send a Service's traffic to a responder that answers a plan.

Krkn file shape: one mapping ``{service_name, service_namespace, service_target_port, image,
chaos_duration, privileged, plan}``. Three changes, each recorded first:

1. a ConfigMap holding the plan (``delete`` record, guarded by its labels);
2. the responder Pod mounting it, listening on the Service's target port (``delete``
   record, guarded by its labels); the scenario waits until it runs;
3. a merge patch of the Service's ``spec.selector`` to the responder's own label, every
   old key set to ``null`` (``patch`` record: the old selector back, the responder's key
   removed; it applies only while the hijacked selector is still in place).

Cleanup undoes them newest first: the selector comes back before the responder goes.
"""

from __future__ import annotations

import time
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.rollback.records import NONCE_LABEL
from krkn_airflow_provider.scenarios import kube, steps
from krkn_airflow_provider.scenarios.base import Scenario, ScenarioConfig, ScenarioContext, register
from krkn_airflow_provider.scenarios.fields import Number, Seconds, StrictBool
from krkn_airflow_provider.scenarios.plan import Plan, Target

DEFAULT_IMAGE = "quay.io/krkn-chaos/krkn-service-hijacking:v0.1.3"
HIJACK_LABEL = "krkn.io/hijack"
PLAN_DIR = "/etc/krkn-hijack"
PLAN_FILE = "plan.yaml"
# The responder listens here when the Service names its target port.
DEFAULT_LISTEN_PORT = 8888
START_TIMEOUT = 180.0
RECOVERY_TIMEOUT = 120.0


class PlanStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    duration: int | None = Field(None, ge=0)
    status: int = Field(ge=100, le=599)
    mime_type: str = "text/plain"
    payload: str = ""


class PlanResource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    resource: str = Field(min_length=1)
    steps: dict[str, list[PlanStep]] = Field(min_length=1)


class ServiceHijackingConfig(ScenarioConfig):
    service_name: str = Field(min_length=1)
    service_namespace: str = Field("default", min_length=1)
    service_target_port: Number | str
    image: str = Field(DEFAULT_IMAGE, min_length=1)
    chaos_duration: Seconds = Field(60, ge=0)
    privileged: StrictBool = True
    plan: list[PlanResource] = Field(min_length=1)

    def plan_text(self) -> str:
        plan = [item.model_dump(mode="json", exclude_none=True) for item in self.plan]
        return yaml.safe_dump(plan, sort_keys=False)


@register
class ServiceHijacking(Scenario[ServiceHijackingConfig]):
    type_name = "service_hijacking_scenarios"
    namespace_fields = ("service_namespace",)
    config_model = ServiceHijackingConfig

    def __init__(self, config: ServiceHijackingConfig, ctx: ScenarioContext) -> None:
        super().__init__(config, ctx)
        self.service: dict[str, Any] = {}
        self.selector: dict[str, str] = {}
        self.ready_before = 0
        self.responder = ""
        self.patched_at = 0.0

    def _backends(self) -> list[dict[str, Any]]:
        return kube.items(
            self.ctx.client,
            "v1",
            "Pod",
            namespace=self.config.service_namespace,
            label_selector=kube.selector_string(self.selector),
        )

    def plan(self) -> Plan:
        c = self.config
        service = kube.get(self.ctx.client, "v1", "Service", c.service_name, c.service_namespace)
        if service is None:
            raise ScenarioError(f"Service {c.service_namespace}/{c.service_name} does not exist")
        selector = (service.get("spec") or {}).get("selector") or {}
        if not selector:
            raise ScenarioError(
                f"Service {c.service_namespace}/{c.service_name} has no selector: nothing to hijack"
            )
        ports = (service.get("spec") or {}).get("ports") or []
        wanted = str(c.service_target_port)
        if not any(
            wanted in (str(port.get("targetPort", port.get("port"))), port.get("name")) for port in ports
        ):
            raise ScenarioError(
                f"Service {c.service_namespace}/{c.service_name} has no port with target port "
                f"or name {c.service_target_port!r}"
            )
        self.service = steps.typed(service, "v1", "Service")
        self.selector = dict(selector)
        self.ready_before = sum(1 for pod in self._backends() if kube.pod_ready(pod))
        return Plan((Target.of(self.service, "Service"),))

    def listen_port(self) -> dict[str, Any]:
        port = self.config.service_target_port
        if isinstance(port, int) or str(port).isdigit():
            return {"containerPort": int(port), "protocol": "TCP"}
        return {"name": str(port), "containerPort": DEFAULT_LISTEN_PORT, "protocol": "TCP"}

    def config_map(self, name: str, labels: dict[str, str]) -> dict[str, Any]:
        c = self.config
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": c.service_namespace, "labels": labels},
            "data": {PLAN_FILE: c.plan_text()},
        }

    def pod(self, name: str, labels: dict[str, str], config_map: str, hijack: str) -> dict[str, Any]:
        c = self.config
        port = self.listen_port()
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": c.service_namespace,
                "labels": {**labels, HIJACK_LABEL: hijack},
            },
            "spec": {
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 0,
                "automountServiceAccountToken": False,  # serves HTTP only
                "containers": [
                    {
                        "name": "responder",
                        "image": c.image,
                        "env": [
                            {"name": "TEST_PLAN", "value": f"{PLAN_DIR}/{PLAN_FILE}"},
                            {"name": "LISTEN_PORT", "value": str(port["containerPort"])},
                        ],
                        "ports": [port],
                        "securityContext": {"privileged": c.privileged},
                        "volumeMounts": [{"name": "plan", "mountPath": PLAN_DIR, "readOnly": True}],
                    }
                ],
                "volumes": [{"name": "plan", "configMap": {"name": config_map, "defaultMode": 0o644}}],
            },
        }

    def selector_change(self, hijack: str) -> dict[str, Any]:
        selector: dict[str, Any] = dict.fromkeys(self.selector)
        selector[HIJACK_LABEL] = hijack
        return {"spec": {"selector": selector}}

    def inject(self, plan: Plan) -> None:
        c = self.config
        ctx = self.ctx
        map_labels = ctx.journal.object_labels()
        map_name = f"krkn-hijack-plan-{map_labels[NONCE_LABEL]}"
        steps.create_object(ctx, self.config_map(map_name, map_labels))

        pod_labels = ctx.journal.object_labels()
        hijack = pod_labels[NONCE_LABEL]
        self.responder = f"krkn-hijack-{hijack}"
        steps.create_object(
            ctx,
            self.pod(self.responder, pod_labels, map_name, hijack),
            f"create responder Pod {c.service_namespace}/{self.responder} ({c.image})",
        )
        if not ctx.dry_run:
            ctx.poll(self._responder_running, timeout=START_TIMEOUT, what="the responder pod to run")
        steps.patch_object(
            ctx,
            self.service,
            self.selector_change(hijack),
            f"patch Service {c.service_namespace}/{c.service_name} selector to {HIJACK_LABEL}={hijack}",
        )
        self.patched_at = time.monotonic()

    def _responder_running(self) -> bool:
        pod = kube.get(self.ctx.client, "v1", "Pod", self.responder, self.config.service_namespace)
        if pod is None:
            raise ScenarioError(f"responder Pod {self.config.service_namespace}/{self.responder} vanished")
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Failed", "Succeeded"):
            raise ScenarioError(
                f"responder Pod {self.config.service_namespace}/{self.responder} ended: {phase}"
            )
        return kube.pod_ready(pod)

    def hold_seconds(self) -> float:
        return float(self.config.chaos_duration)

    def recover(self) -> float:
        c = self.config

        def recovered() -> bool:
            service = kube.get(self.ctx.client, "v1", "Service", c.service_name, c.service_namespace)
            if service is None or ((service.get("spec") or {}).get("selector") or {}) != self.selector:
                return False
            return sum(1 for pod in self._backends() if kube.pod_ready(pod)) >= self.ready_before

        self.ctx.poll(recovered, timeout=RECOVERY_TIMEOUT, what="the Service's own selector and pods back")
        return time.monotonic() - self.patched_at
