"""``node_scenarios``, Kubernetes-level actions only: cordon, drain and taint nodes.

Krkn file shape: ``{node_scenarios: [{actions, node_name, label_selector, instance_count,
runs, timeout, duration, cloud_type, parallel, ...}]}``. Actions this provider runs:

* ``node_cordon`` — merge patch ``spec.unschedulable: true``; the record puts the old
  value back (``null`` when it was unset);
* ``node_taint`` — the node's whole ``spec.taints`` list replaced by the old list plus
  ``taints`` (default ``krkn.io/chaos=true:NoSchedule``); the record restores the old
  list whole, so taints a person adds meanwhile make it ``diverged``, never lost;
* ``node_drain`` — cordon, then evict every pod on the node through the Eviction API,
  which respects PodDisruptionBudgets (a 429 is retried until ``timeout``); DaemonSet
  and mirror pods stay. A pod no controller owns gets a ``create`` record of its cleaned
  manifest first, so cleanup recreates it on the same node.

Cloud and bare-metal actions (``node_stop_scenario``, ``node_reboot_scenario``, kubelet
actions, ...) need a cloud API and are refused when the file is read, naming the action.
The ``_scenario`` suffix is accepted (``node_drain_scenario``). Nodes are handled one
after another; ``runs: N`` repeats the whole entry N times.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from pydantic import Field, field_validator, model_validator

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.rollback.undo import namespace_going
from krkn_airflow_provider.scenarios import kube, steps
from krkn_airflow_provider.scenarios.base import (
    Scenario,
    ScenarioConfig,
    ScenarioContext,
    ScenarioInterrupted,
    entries_with_runs,
    register,
)
from krkn_airflow_provider.scenarios.fields import Count, Runs, Seconds, StrictBool
from krkn_airflow_provider.scenarios.plan import Plan, Target, pick

SUPPORTED = ("node_cordon", "node_drain", "node_taint")
DEFAULT_TAINT = "krkn.io/chaos=true:NoSchedule"
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
EVICTION_RETRY = 1.0
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
CONTROLLER_TAINT_TIMEOUT = 10.0


def action_name(action: str) -> str:
    return action.removesuffix("_scenario")


def parse_taint(text: str) -> dict[str, str]:
    """``key[=value]:Effect`` as a taint object."""
    key_value, sep, effect = text.rpartition(":")
    if not sep or not key_value or effect not in EFFECTS:
        raise ValueError(
            f"taint {text!r}: expected 'key[=value]:Effect' with Effect one of {', '.join(EFFECTS)}"
        )
    key, _, value = key_value.partition("=")
    taint = {"key": key, "effect": effect}
    if value:
        taint["value"] = value
    return taint


class NodeScenarioConfig(ScenarioConfig):
    actions: list[str] = Field(min_length=1)
    node_name: str | None = None
    label_selector: str | None = None
    exclude_label: str | None = None
    instance_count: Count = Field(1, ge=1)
    runs: Runs = 1
    timeout: Seconds = Field(120, ge=1)
    duration: Seconds = Field(0, ge=0)
    cloud_type: str | None = None
    parallel: StrictBool = False
    kube_check: StrictBool = True
    poll_interval: Seconds | None = None
    taints: list[str] = Field(default_factory=lambda: [DEFAULT_TAINT])

    @field_validator("actions")
    @classmethod
    def _supported(cls, actions: list[str]) -> list[str]:
        for action in actions:
            if action_name(action) not in SUPPORTED:
                raise ValueError(
                    f"action {action!r} is not supported by this provider: cloud and bare-metal node "
                    f"actions need the provider's API; Kubernetes-level actions are {', '.join(SUPPORTED)}"
                )
        return actions

    @field_validator("taints")
    @classmethod
    def _taints(cls, taints: list[str]) -> list[str]:
        for taint in taints:
            parse_taint(taint)
        return taints

    @model_validator(mode="after")
    def _exclude(self) -> NodeScenarioConfig:
        if self.exclude_label:
            kube.label_pair(self.exclude_label, key="exclude_label")
        return self

    def node_names(self) -> list[str]:
        return [name.strip() for name in (self.node_name or "").split(",") if name.strip()]


def _taint_key(taint: dict[str, Any]) -> tuple[str, str]:
    return (str(taint.get("key")), str(taint.get("effect")))


@register
class NodeScenarios(Scenario[NodeScenarioConfig]):
    type_name = "node_scenarios"
    config_model = NodeScenarioConfig

    def __init__(self, config: NodeScenarioConfig, ctx: ScenarioContext) -> None:
        super().__init__(config, ctx)
        self.before: dict[str, dict[str, Any]] = {}
        self.changed_at = 0.0

    @classmethod
    def split_document(cls, document: Any) -> list[Any]:
        return entries_with_runs(document, "node_scenarios")

    def plan(self) -> Plan:
        c = self.config
        client = self.ctx.client
        exclude = kube.label_pair(c.exclude_label, key="exclude_label") if c.exclude_label else None
        names = c.node_names()
        if names:
            named: dict[str, Target] = {}
            for name in names:
                node = kube.get(client, "v1", "Node", name, None)
                if node is None:
                    raise ScenarioError(f"node_name: node {name!r} does not exist")
                named[name] = Target.of(node, "Node")
            plan = Plan(tuple(target for _, target in sorted(named.items())))
        else:
            nodes = [
                node
                for node in kube.items(client, "v1", "Node", label_selector=c.label_selector or None)
                if not kube.has_label(node, exclude)
            ]
            if not nodes:
                raise ScenarioError(f"label_selector {c.label_selector or '(any)'!r} matches no node")
            if len(nodes) < c.instance_count:
                raise ScenarioError(
                    f"instance_count={c.instance_count} but label_selector "
                    f"{c.label_selector or '(any)'!r} matches {len(nodes)} node(s)"
                )
            plan = pick([Target.of(node, "Node") for node in nodes], c.instance_count, sort=True)
        self.before = {target.name: steps.typed(target.obj, "v1", "Node") for target in plan}
        return plan

    def inject(self, plan: Plan) -> None:
        for target in plan:
            for action in self.config.actions:
                getattr(self, action_name(action))(target.name)
        self.changed_at = time.monotonic()

    def _node(self, name: str) -> dict[str, Any]:
        node = kube.get(self.ctx.client, "v1", "Node", name, None)
        if node is None:
            raise ScenarioError(f"node {name!r} vanished")
        return steps.typed(node, "v1", "Node")

    def node_cordon(self, name: str) -> None:
        node = self._node(name)
        if (node.get("spec") or {}).get("unschedulable"):
            self.ctx.log(f"node {name} is already cordoned: nothing to change")
            return
        steps.patch_object(self.ctx, node, {"spec": {"unschedulable": True}}, f"cordon Node {name}")

    def node_taint(self, name: str) -> None:
        node = self._node(name)
        if (node.get("spec") or {}).get("unschedulable") and not self.ctx.dry_run:
            # The node controller adds its own taint to a cordoned node. Our record holds the
            # whole list, so read it once that taint is there, or the undo would diverge.
            try:
                self.ctx.poll(
                    lambda: UNSCHEDULABLE_TAINT in {t.get("key") for t in self._taints(name)},
                    timeout=CONTROLLER_TAINT_TIMEOUT,
                    what=f"the node controller's taint on cordoned node {name}",
                )
            except ScenarioInterrupted:
                raise
            except ScenarioError:
                self.ctx.log(f"node {name}: no {UNSCHEDULABLE_TAINT} taint appeared; tainting anyway")
            node = self._node(name)
        old = list((node.get("spec") or {}).get("taints") or [])
        present = {_taint_key(taint) for taint in old}
        added = [taint for taint in map(parse_taint, self.config.taints) if _taint_key(taint) not in present]
        if not added:
            self.ctx.log(f"node {name} already has the taints: nothing to change")
            return
        shown = ", ".join(self.config.taints)
        steps.patch_object(
            self.ctx, node, {"spec": {"taints": old + added}}, f"taint Node {name} with {shown}"
        )

    def _taints(self, name: str) -> list[dict[str, Any]]:
        return list((self._node(name).get("spec") or {}).get("taints") or [])

    def node_drain(self, name: str) -> None:
        def evictable() -> list[dict[str, Any]]:
            found = kube.items(self.ctx.client, "v1", "Pod", field_selector=f"spec.nodeName={name}")
            return [steps.typed(pod, "v1", "Pod") for pod in found if self._evictable(pod)]

        # Bare pods are recorded for re-creation: refuse literal credentials before the cordon.
        steps.refuse_secret_values(
            self.ctx, [p for p in evictable() if not p["metadata"].get("ownerReferences")]
        )
        self.node_cordon(name)
        pods = evictable()
        leaving: set[str] = set()
        for pod in pods:
            owned = bool(pod["metadata"].get("ownerReferences"))
            undo = None if owned else steps.recreate_record(pod)
            evicted = self.ctx.change(
                undo, f"evict {kube.pod_key(pod)} from node {name}", functools.partial(self._evict, pod)
            )
            if evicted is False:
                leaving.add(kube.pod_key(pod))
        pods = [pod for pod in pods if kube.pod_key(pod) not in leaving]
        if not self.ctx.dry_run and pods:
            self.ctx.poll(
                lambda: all(steps.gone(self.ctx, pod) for pod in pods),
                timeout=float(self.config.timeout),
                what=f"{len(pods)} evicted pod(s) to leave node {name}",
            )

    @staticmethod
    def _evictable(pod: dict[str, Any]) -> bool:
        metadata = pod["metadata"]
        if metadata.get("deletionTimestamp") or MIRROR_ANNOTATION in (metadata.get("annotations") or {}):
            return False
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return True
        return not any(owner.get("kind") == "DaemonSet" for owner in metadata.get("ownerReferences") or [])

    def _evict(self, pod: dict[str, Any]) -> bool:
        """Evict ``pod``; ``False`` when its namespace is being deleted and it leaves with it.

        A server refuses any eviction in a terminating namespace (403 ``NamespaceTerminating``);
        the namespace controller deletes the pod, so, as ``kubectl drain`` does, that is not
        an error and the drain does not wait for it.
        """
        from kubernetes import client as k8s

        core = k8s.CoreV1Api(self.ctx.client.client)
        metadata = pod["metadata"]
        name, namespace = metadata["name"], metadata["namespace"]
        body = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
        }
        deadline = time.monotonic() + self.config.timeout
        while True:
            try:
                core.create_namespaced_pod_eviction(
                    name, namespace, body, _request_timeout=kube.REQUEST_TIMEOUT
                )
                return True
            except Exception as error:
                status = kube.status_of(error)
                if status == 404:
                    return True
                if namespace_going(error):
                    self.ctx.log(
                        f"Pod {namespace}/{name}: namespace {namespace} is being deleted; "
                        "the pod leaves with it"
                    )
                    return False
                if status != 429:
                    raise ScenarioError(f"cannot evict Pod {namespace}/{name}: {error}") from error
                if time.monotonic() >= deadline:
                    raise ScenarioError(
                        f"cannot evict Pod {namespace}/{name} within {self.config.timeout} s: "
                        "a PodDisruptionBudget does not allow it"
                    ) from error
            self.ctx.wait(
                EVICTION_RETRY, f"eviction of Pod {namespace}/{name} refused by a PodDisruptionBudget"
            )

    def hold_seconds(self) -> float:
        return float(self.config.duration)

    def recover(self) -> float:
        def fields(node: dict[str, Any]) -> tuple[Any, Any]:
            spec = node.get("spec") or {}
            return (bool(spec.get("unschedulable")), spec.get("taints") or [])

        def recovered() -> bool:
            return all(fields(self._node(name)) == fields(node) for name, node in self.before.items())

        self.ctx.poll(recovered, timeout=float(self.config.timeout), what="nodes back to their spec")
        return time.monotonic() - self.changed_at
