"""``service_disruption_scenarios``: delete a namespace's Services and workloads.

Krkn file shape: ``{scenarios: [{namespace | label_selector, delete_count, runs, sleep,
wait_time}]}``. ``namespace`` is a regular expression over namespace names,
``label_selector`` selects namespaces by label; ``delete_count`` of the matching
namespaces are picked at random. In each, every Service, Deployment, StatefulSet,
DaemonSet and ReplicaSet that no controller owns is deleted (what they own goes with
them), each after a ``create`` record of its cleaned manifest: so the namespace comes
back even when no operator recreates it. Left alone: ``default/kubernetes`` and objects this
provider created (other scenarios' helpers, undone by their own records).

The deletions stay in place ``sleep`` seconds; cleanup then creates again whatever is
still missing (what an operator already brought back counts as done), and recovery waits
up to ``wait_time`` seconds for the workloads to be ready. ``runs: N`` repeats the whole
entry N times.
"""

from __future__ import annotations

import random
import re
import time
from typing import Any

from pydantic import Field, model_validator

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.rollback.records import MANAGED_BY, MANAGED_BY_LABEL
from krkn_airflow_provider.scenarios import kube, steps
from krkn_airflow_provider.scenarios.base import (
    Scenario,
    ScenarioConfig,
    ScenarioContext,
    entries_with_runs,
    register,
)
from krkn_airflow_provider.scenarios.fields import Count, Runs, Seconds
from krkn_airflow_provider.scenarios.plan import Plan, Target

# In deletion order: the Services first, so no traffic reaches half-deleted workloads.
KINDS: tuple[tuple[str, str], ...] = (
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("apps/v1", "ReplicaSet"),
)
GONE_TIMEOUT = 120.0


class ServiceDisruptionConfig(ScenarioConfig):
    namespace: str = ""
    label_selector: str = ""
    delete_count: Count = Field(1, ge=1)
    runs: Runs = 1
    sleep: Seconds = Field(10, ge=0)
    wait_time: Seconds = Field(30, ge=0)

    @model_validator(mode="after")
    def _one_selector(self) -> ServiceDisruptionConfig:
        if not self.namespace and not self.label_selector:
            raise ValueError(
                "set 'namespace' (a regular expression) or 'label_selector' to choose namespaces"
            )
        if self.namespace:
            try:
                re.compile(self.namespace)
            except re.error as error:
                raise ValueError(f"'namespace' is not a regular expression: {error}") from None
        return self


def _ready(obj: dict[str, Any]) -> bool:
    """A workload's pods are all ready (Services are ready once they exist)."""
    kind = obj.get("kind")
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if kind == "Service":
        return True
    if kind == "DaemonSet":
        return int(status.get("numberReady") or 0) >= int(status.get("desiredNumberScheduled") or 0)
    wanted = spec.get("replicas", 1)
    return int(status.get("readyReplicas") or 0) >= int(wanted if wanted is not None else 1)


@register
class ServiceDisruption(Scenario[ServiceDisruptionConfig]):
    type_name = "service_disruption_scenarios"
    config_model = ServiceDisruptionConfig

    def __init__(self, config: ServiceDisruptionConfig, ctx: ScenarioContext) -> None:
        super().__init__(config, ctx)
        self.victims: list[dict[str, Any]] = []  # what inject deleted, as planned
        self.deleted_at = 0.0

    @classmethod
    def split_document(cls, document: Any) -> list[Any]:
        return entries_with_runs(document, "scenarios")

    def _namespaces(self) -> list[str]:
        c = self.config
        client = self.ctx.client
        if c.label_selector:
            names = [
                ns["metadata"]["name"]
                for ns in kube.items(client, "v1", "Namespace", label_selector=c.label_selector)
            ]
        else:
            names = [ns["metadata"]["name"] for ns in kube.items(client, "v1", "Namespace")]
        if c.namespace:
            regex = re.compile(c.namespace)
            names = [name for name in names if regex.match(name)]
        return sorted(names)

    def plan(self) -> Plan:
        c = self.config
        namespaces = self._namespaces()
        shown = " ".join(
            part
            for part in (
                f"namespace={c.namespace!r}" if c.namespace else "",
                f"label_selector={c.label_selector!r}" if c.label_selector else "",
            )
            if part
        )
        if not namespaces:
            raise ScenarioError(f"{shown} matches no namespace")
        if len(namespaces) < c.delete_count:
            raise ScenarioError(
                f"delete_count={c.delete_count} but {shown} matches {len(namespaces)} namespace(s)"
            )
        # Refuse a selection that can reach a protected namespace, whatever the random pick.
        for namespace in sorted(namespaces):
            self.ctx.limits.refuse_namespace(namespace, f"{shown} matches a namespace that")
        chosen = sorted(random.sample(namespaces, c.delete_count))
        victims = [target for namespace in chosen for target in self._victims(namespace)]
        if not victims:
            raise ScenarioError(f"no Service or workload to delete in {', '.join(sorted(set(namespaces)))}")
        steps.refuse_secret_values(self.ctx, [target.obj for target in victims])
        return Plan(tuple(victims), selected=(c.delete_count, len(namespaces)))

    def _victims(self, namespace: str) -> list[Target]:
        """The Services and workloads of ``namespace`` that a delete does not take along."""
        victims = []
        for api_version, kind in KINDS:
            for obj in kube.items(self.ctx.client, api_version, kind, namespace=namespace):
                metadata = obj["metadata"]
                if metadata.get("deletionTimestamp") or metadata.get("ownerReferences"):
                    continue  # its owner's deletion takes it along; the owner is recreated
                if (metadata.get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY:
                    continue  # another scenario's helper: its own records remove it
                if (kind, namespace, metadata["name"]) == ("Service", "default", "kubernetes"):
                    continue  # the API server's own Service
                victims.append(Target.of(steps.typed(obj, api_version, kind), kind))
        return victims

    def inject(self, plan: Plan) -> None:
        self.victims = [target.obj for target in plan]
        for target in plan:
            obj = target.obj
            steps.delete_object(self.ctx, obj, undo=steps.recreate_record(obj), what=f"delete {target}")
        if not self.ctx.dry_run:
            # The same names can only be created again once the old objects are gone.
            self.ctx.poll(
                lambda: all(steps.gone(self.ctx, obj) for obj in self.victims),
                timeout=GONE_TIMEOUT,
                what=f"{len(plan)} deleted object(s) to be gone",
            )
        self.deleted_at = time.monotonic()

    def hold_seconds(self) -> float:
        return float(self.config.sleep)

    def recover(self) -> float:
        def recovered() -> bool:
            for obj in self.victims:
                metadata = obj["metadata"]
                current = kube.get(
                    self.ctx.client, obj["apiVersion"], obj["kind"], metadata["name"], metadata["namespace"]
                )
                if current is None or not _ready({**current, "kind": obj["kind"]}):
                    return False
            return True

        self.ctx.poll(
            recovered, timeout=float(self.config.wait_time), what=f"{len(self.victims)} object(s) ready"
        )
        return time.monotonic() - self.deleted_at
