"""``pod_disruption_scenarios``: delete pods chosen by namespace regex and label or name.

Krkn file shape: a list of ``{id: kill-pods, config: {...}}``. Pods with an owner (a
ReplicaSet, StatefulSet, Job...) come back through their controller, so deleting them
needs no undo record; a bare pod does not, so its cleaned manifest is recorded first
and cleanup creates it again. Recovery: as many ready pods match the selection as
before, within ``krkn_pod_recovery_time`` seconds of the deletion.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Literal

from pydantic import Field, model_validator

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.scenarios import kube, pipeline, steps
from krkn_airflow_provider.scenarios.base import Scenario, ScenarioConfig, ScenarioContext, register
from krkn_airflow_provider.scenarios.fields import Seconds, StrictBool, StrictInt
from krkn_airflow_provider.scenarios.plan import Plan, Target
from krkn_airflow_provider.scenarios.select import pick_pods


class PodDisruptionConfig(ScenarioConfig):
    namespace_pattern: str = Field(min_length=1)
    label_selector: str = ""
    name_pattern: str = ""
    kill: StrictInt = Field(1, ge=1, le=1000)  # Krkn refuses anything but an integer
    krkn_pod_recovery_time: Seconds = Field(120, ge=0)
    exclude_label: str = ""
    node_label_selector: str = ""
    node_names: list[str] = Field(default_factory=list)
    force: StrictBool = False  # Krkn refuses anything but true/false
    # Accepted as Krkn has them. ``parallel`` deletes every chosen pod before waiting for
    # any bare one to terminate; ``serial`` waits for each bare pod before the next delete.
    timeout: Seconds = Field(120, ge=0)
    duration: Seconds = Field(10, ge=0)
    execution: Literal["serial", "parallel"] = "serial"

    @model_validator(mode="after")
    def _one_selector(self) -> PodDisruptionConfig:
        if not self.label_selector and not self.name_pattern:
            raise ValueError("set 'label_selector' or 'name_pattern' to choose the pods")
        for key in ("namespace_pattern", "name_pattern"):
            try:
                re.compile(getattr(self, key))
            except re.error as error:
                raise ValueError(f"{key!r} is not a regular expression: {error}") from None
        if self.exclude_label:
            kube.label_pair(self.exclude_label, key="exclude_label")
        return self


class PodDisruptionEntry(ScenarioConfig):
    id: str = "kill-pods"
    config: PodDisruptionConfig


@register
class PodDisruption(Scenario[PodDisruptionEntry]):
    type_name = "pod_disruption_scenarios"
    config_model = PodDisruptionEntry

    def __init__(self, config: PodDisruptionEntry, ctx: ScenarioContext) -> None:
        super().__init__(config, ctx)
        self.settings = config.config
        self.ready_before = 0
        self.deleted_uids: set[str] = set()
        self.killed_at = 0.0
        self.pods: Any = None  # the dynamic client's Pod resource, looked up once

    def matching_pods(self) -> list[dict[str, Any]]:
        s = self.settings
        client = self.ctx.client
        namespaces = kube.namespaces_matching(client, s.namespace_pattern)
        if not namespaces:
            raise ScenarioError(f"namespace_pattern {s.namespace_pattern!r} matches no namespace")
        exclude = kube.label_pair(s.exclude_label, key="exclude_label") if s.exclude_label else None
        nodes: set[str] | None = set(s.node_names) if s.node_names else None
        if s.node_label_selector:
            labelled = kube.items(client, "v1", "Node", label_selector=s.node_label_selector)
            names = {node["metadata"]["name"] for node in labelled}
            nodes = names if nodes is None else nodes & names
        name_re = re.compile(s.name_pattern) if s.name_pattern else None
        pods = []
        for namespace in namespaces:
            for pod in kube.items(
                client, "v1", "Pod", namespace=namespace, label_selector=s.label_selector or None
            ):
                metadata = pod["metadata"]
                if metadata.get("deletionTimestamp") or kube.has_label(pod, exclude):
                    continue
                if name_re is not None and not name_re.match(metadata["name"]):
                    continue
                if nodes is not None and (pod.get("spec") or {}).get("nodeName") not in nodes:
                    continue
                pods.append(pod)
        return pods

    def plan(self) -> Plan:
        s = self.settings
        pods = self.matching_pods()
        selection = f"namespace_pattern={s.namespace_pattern!r}"
        if s.label_selector:
            selection += f" label_selector={s.label_selector!r}"
        if s.name_pattern:
            selection += f" name_pattern={s.name_pattern!r}"
        plan = pick_pods(self.ctx.limits, pods, s.kill, key="kill", noun="pod", selection=selection)
        self.ready_before = sum(1 for pod in pods if kube.pod_ready(pod))
        bare = [target.obj for target in plan if not target.obj["metadata"].get("ownerReferences")]
        steps.refuse_secret_values(self.ctx, [steps.typed(pod, "v1", "Pod") for pod in bare])
        return plan

    def inject(self, plan: Plan) -> None:
        targets = list(plan)
        parallel = self.settings.execution == "parallel"
        self.pods = self.ctx.resource("v1", "Pod")
        bare: list[tuple[str, str, str | None]] = []  # deleted bare pods not yet gone
        # The record of the next bare pod is written while this one is deleted.
        records = sum(1 for target in targets if not target.obj["metadata"].get("ownerReferences"))
        deletes = pipeline.changes_ahead(
            self.ctx,
            (self._change(target) for target in targets),
            writer_process=pipeline.writer_process_for(self.ctx, records),
        )
        for target, gone in zip(targets, deletes, strict=True):
            metadata = target.obj["metadata"]
            self.deleted_uids.add(metadata.get("uid") or "")
            if metadata.get("ownerReferences") or self.ctx.dry_run or gone:
                continue  # a controller brings it back, or the answer says it is gone
            bare.append((metadata["name"], metadata["namespace"], metadata.get("uid")))
            if not parallel:
                # serial, as Krkn: this pod is gone before the next one is deleted.
                self._wait_gone(bare)
                bare.clear()
        # parallel: every pod was deleted before waiting for any of them.
        self._wait_gone(bare)
        self.killed_at = time.monotonic()

    def _change(self, target: Target) -> pipeline.Change[bool]:
        """The undo record (bare pods only), the description and the delete of one pod."""
        pod = target.obj
        metadata = pod["metadata"]
        name, namespace = metadata["name"], metadata["namespace"]
        undo = None
        if not metadata.get("ownerReferences"):
            # Nothing recreates a bare pod: record how to create it again (built where the
            # record is written: the writer process for a long run).
            undo = pipeline.Later(steps.recreate_record, (pod, "v1", "Pod"), namespace)
        return undo, f"delete {target}", lambda: self._delete(name, namespace, metadata.get("uid"))

    def _delete(self, name: str, namespace: str, uid: str | None) -> bool:
        """Delete one pod; ``True`` when the answer says it is already gone."""
        try:
            answer = self.ctx.client.delete(
                self.pods,
                name=name,
                namespace=namespace,
                grace_period_seconds=0 if self.settings.force else None,
                _request_timeout=kube.REQUEST_TIMEOUT,
                serialize=False,  # only three fields are read: skip the client's object model
            )
        except Exception as error:
            if getattr(error, "status", None) == 404:
                return True
            raise kube.api_error("delete", "v1", "Pod", f"{namespace}/{name}", error) from error
        return removed(answer.status, answer.data, uid)

    def _wait_gone(self, bare: list[tuple[str, str, str | None]]) -> None:
        """The same name can only be created again once the old pod is gone."""
        if bare:
            self.ctx.poll(
                lambda: all(self._gone(name, namespace, uid) for name, namespace, uid in bare),
                timeout=float(self.settings.timeout),
                what=f"{len(bare)} bare pod(s) to terminate",
            )

    def _gone(self, name: str, namespace: str, uid: str | None) -> bool:
        current = kube.get(self.ctx.client, "v1", "Pod", name, namespace)
        return current is None or current["metadata"].get("uid") != uid

    def recover(self) -> float:
        def recovered() -> bool:
            ready = [
                pod
                for pod in self.matching_pods()
                if kube.pod_ready(pod) and pod["metadata"].get("uid") not in self.deleted_uids
            ]
            return len(ready) >= self.ready_before

        timeout = float(self.settings.krkn_pod_recovery_time)
        self.ctx.poll(recovered, timeout=timeout, what=f"{self.ready_before} ready pod(s) again")
        return time.monotonic() - self.killed_at


def removed(status: int, body: bytes, uid: str | None) -> bool:
    """Whether a pod delete's answer says the pod is already removed, not just terminating.

    The API server removes a pod at once when its grace period is zero (forced, or never
    scheduled) and no finalizer holds it; it then answers ``200`` with the pod as it was,
    marked with ``deletionGracePeriodSeconds: 0``. A terminating pod is answered ``202``
    or carries a grace period or finalizers: the caller still waits for it.
    """
    if status != 200:
        return False
    try:
        answer = json.loads(body)
    except ValueError:
        return False
    if not isinstance(answer, dict):
        return False
    if answer.get("kind") == "Status":
        return answer.get("status") == "Success"
    metadata = answer.get("metadata")
    if not isinstance(metadata, dict) or (uid and metadata.get("uid") != uid):
        return False
    return metadata.get("deletionGracePeriodSeconds") == 0 and not metadata.get("finalizers")
