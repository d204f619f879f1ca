"""``syn_flood_scenarios``: attacker pods that SYN-flood one or more Services.

Krkn file shape: one mapping with hyphenated keys ``{packet-size, window-size, duration,
namespace, target-service | target-service-label, target-port, number-of-pods, image,
attacker-nodes}``. Per target Service, ``number-of-pods`` pods run ``hping3`` in SYN flood
mode against ``<service>.<namespace>.svc:<target-port>`` for ``duration`` seconds.
``attacker-nodes`` (``{label: [values]}``) becomes a required node affinity; ``{}`` lets the
scheduler choose. Each pod's guarded ``delete`` record is written before it is created.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field, field_validator, model_validator

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.rollback.records import NONCE_LABEL
from krkn_airflow_provider.scenarios import kube, steps
from krkn_airflow_provider.scenarios.base import ScenarioConfig, ScenarioContext, register
from krkn_airflow_provider.scenarios.fields import Count, Number, Seconds
from krkn_airflow_provider.scenarios.helper_pods import HelperPods
from krkn_airflow_provider.scenarios.plan import Plan, Target
from krkn_airflow_provider.scenarios.safety import BlastRadiusExceeded

DEFAULT_IMAGE = "quay.io/krkn-chaos/krkn-hub-multiarch:workload-krkn-syn-flood"
ATTACK_LABEL = "krkn.io/syn-flood"


class SynFloodConfig(ScenarioConfig):
    packet_size: Number = Field(120, alias="packet-size", ge=0, le=65495)
    window_size: Number = Field(64, alias="window-size", ge=0, le=65535)
    duration: Seconds = Field(10, ge=1)
    namespace: str = Field("default", min_length=1)
    target_service: str = Field("", alias="target-service")
    target_service_label: str = Field("", alias="target-service-label")
    target_port: Number = Field(alias="target-port", gt=0, lt=65536)
    number_of_pods: Count = Field(2, alias="number-of-pods", ge=1)
    image: str = Field(DEFAULT_IMAGE, min_length=1)
    attacker_nodes: dict[str, list[str]] = Field(default_factory=dict, alias="attacker-nodes")

    @field_validator("attacker_nodes", mode="before")
    @classmethod
    def _values(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict):  # a bare value (label: "x") is one value
            return {key: item if isinstance(item, list) else [item] for key, item in value.items()}
        return value

    @model_validator(mode="after")
    def _one_target(self) -> SynFloodConfig:
        if bool(self.target_service) == bool(self.target_service_label):
            raise ValueError("set exactly one of 'target-service' and 'target-service-label'")
        return self

    def affinity(self) -> dict[str, Any] | None:
        if not self.attacker_nodes:
            return None
        expressions = [
            {"key": key, "operator": "In", "values": [str(value or "") for value in values]}
            for key, values in sorted(self.attacker_nodes.items())
        ]
        return {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": expressions}]
                }
            }
        }


@register
class SynFlood(HelperPods[SynFloodConfig]):
    type_name = "syn_flood_scenarios"
    config_model = SynFloodConfig
    helper = "attacker"

    def __init__(self, config: SynFloodConfig, ctx: ScenarioContext) -> None:
        super().__init__(config, ctx)
        self.started = 0.0

    def plan(self) -> Plan:
        c = self.config
        if c.target_service:
            service = kube.get(self.ctx.client, "v1", "Service", c.target_service, c.namespace)
            if service is None:
                raise ScenarioError(f"Service {c.namespace}/{c.target_service} does not exist")
            names = [c.target_service]
        else:
            found = kube.items(
                self.ctx.client, "v1", "Service", namespace=c.namespace, label_selector=c.target_service_label
            )
            names = sorted(service["metadata"]["name"] for service in found)
            if not names:
                raise ScenarioError(
                    f"target-service-label {c.target_service_label!r} matches no Service in {c.namespace!r}"
                )
        return Plan(tuple(Target("Service", name, c.namespace) for name in names))

    def check_blast_radius(self, plan: Plan) -> None:
        """``max_targets`` counts the attacker pods this entry creates, not the Services."""
        super().check_blast_radius(plan)
        limit, per_service = self.ctx.limits.max_targets, self.config.number_of_pods
        if limit is not None and len(plan) * per_service > limit:
            raise BlastRadiusExceeded(
                f"the plan creates {len(plan) * per_service} attacker pods ({per_service} per "
                f"Service, {len(plan)} Service(s)) but max_targets={limit}: "
                "lower number-of-pods or raise max_targets"
            )

    def command(self, service: str) -> list[str]:
        c = self.config
        return [
            "timeout",
            str(c.duration),
            "hping3",
            "-S",
            "--flood",
            "-p",
            str(c.target_port),
            "-d",
            str(c.packet_size),
            "-w",
            str(c.window_size),
            f"{service}.{c.namespace}.svc",
        ]

    def pod(self, name: str, labels: dict[str, str], service: str) -> dict[str, Any]:
        c = self.config
        spec: dict[str, Any] = {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": False,  # hping3 never calls the API
            "activeDeadlineSeconds": self.ctx.pod_deadline(c.duration),
            "containers": [{"name": "attacker", "image": c.image, "command": self.command(service)}],
        }
        affinity = c.affinity()
        if affinity is not None:
            spec["affinity"] = affinity
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": c.namespace, "labels": {**labels, ATTACK_LABEL: service}},
            "spec": spec,
        }

    def inject(self, plan: Plan) -> None:
        c = self.config
        for target in plan:
            service = target.name
            for _ in range(c.number_of_pods):
                labels = self.ctx.journal.object_labels()
                name = f"krkn-syn-flood-{labels[NONCE_LABEL]}"
                steps.create_object(
                    self.ctx,
                    self.pod(name, labels, service),
                    f"create attacker Pod {c.namespace}/{name} against {service}:{c.target_port}",
                )
                self.pods.append(name)
        self.started = time.monotonic()

    def hold_seconds(self) -> float:
        return float(self.config.duration)
