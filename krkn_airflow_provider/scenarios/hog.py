"""``hog_scenarios``: one stress pod per selected node, for ``duration`` seconds (cpu, memory, io).

Krkn file shape: one mapping with hyphenated keys (``hog-type``, ``node-selector``,
``number-of-nodes``, ``taints``, ...), Krkn's defaults. ``node-selector`` is
``"label=value"`` or a mapping; empty picks one random schedulable node; every
matching node is hogged unless ``number-of-nodes`` limits it. Each pod's ``delete``
record (guarded by its labels) is written before the pod is created.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.rollback.records import NONCE_LABEL
from krkn_airflow_provider.scenarios import kube, steps
from krkn_airflow_provider.scenarios.base import ScenarioConfig, register
from krkn_airflow_provider.scenarios.fields import Count, Number, Seconds, Taints, tolerations
from krkn_airflow_provider.scenarios.helper_pods import HelperPods
from krkn_airflow_provider.scenarios.plan import Plan, Target, pick

DEFAULT_IMAGE = "quay.io/krkn-chaos/krkn-hog"
HOG_LABEL = "krkn.io/hog"
START_TIMEOUT = 180.0


class HogConfig(ScenarioConfig):
    hog_type: Literal["cpu", "memory", "io"] = Field(alias="hog-type")
    duration: Seconds = Field(30, ge=0)
    namespace: str = Field("default", min_length=1)
    node_selector: str | dict[str, str] | None = Field(None, alias="node-selector")
    number_of_nodes: Count | None = Field(None, alias="number-of-nodes", ge=1)
    image: str = Field(DEFAULT_IMAGE, min_length=1)
    workers: Count | None = Field(None, ge=0)
    taints: Taints = Field(default_factory=list)
    cpu_load_percentage: Number = Field(80, alias="cpu-load-percentage", ge=0, le=100)
    cpu_method: str = Field("all", alias="cpu-method")
    memory_vm_bytes: str = Field("10%", alias="memory-vm-bytes")
    io_block_size: str = Field("1m", alias="io-block-size")
    io_write_bytes: str = Field("10m", alias="io-write-bytes")
    io_target_pod_folder: str = Field("/hog-data", alias="io-target-pod-folder")
    io_target_pod_volume: dict[str, Any] = Field(
        default_factory=lambda: {"name": "node-volume", "hostPath": {"path": "/tmp"}},
        alias="io-target-pod-volume",
    )

    @field_validator("node_selector", "number_of_nodes", "workers", "image", "namespace", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        # Krkn's sample files leave options empty ('' or {}) to mean "the default".
        return None if value in ("", {}) else value

    def selector(self) -> str | None:
        if isinstance(self.node_selector, dict):
            return kube.selector_string(self.node_selector)
        return self.node_selector or None

    def stress_command(self) -> list[str]:
        workers = str(self.workers or 0)  # 0: one per CPU
        timeout = f"{self.duration}s"
        if self.hog_type == "cpu":
            load = ["--cpu-load", str(self.cpu_load_percentage), "--cpu-method", self.cpu_method]
            return ["stress-ng", "--cpu", workers, *load, "--timeout", timeout]
        if self.hog_type == "memory":
            return [
                "stress-ng",
                "--vm",
                str(self.workers or 1),
                "--vm-bytes",
                self.memory_vm_bytes,
                "--timeout",
                timeout,
            ]
        return [
            "stress-ng",
            "--hdd",
            str(self.workers or 1),
            "--hdd-bytes",
            self.io_write_bytes,
            "--hdd-write-size",
            self.io_block_size,
            "--temp-path",
            self.io_target_pod_folder,
            "--timeout",
            timeout,
        ]


@register
class Hog(HelperPods[HogConfig]):
    type_name = "hog_scenarios"
    config_model = HogConfig
    helper = "hog"

    def plan(self) -> Plan:
        c = self.config
        client = self.ctx.client
        if kube.get(client, "v1", "Namespace", c.namespace, None) is None:
            raise ScenarioError(f"namespace {c.namespace!r} does not exist")
        selector = c.selector()
        nodes = [
            Target.of(node, "Node")
            for node in kube.items(client, "v1", "Node", label_selector=selector)
            if not (node.get("spec") or {}).get("unschedulable")
        ]
        if not nodes:
            raise ScenarioError(f"node-selector {selector or '(any)'!r} matches no schedulable node")
        # No selector: one random node, as Krkn does; a selector: every matching node.
        count = c.number_of_nodes or (1 if selector is None else len(nodes))
        if count > len(nodes):
            shown = selector or "(any)"
            raise ScenarioError(
                f"number-of-nodes={count} but node-selector {shown!r} matches {len(nodes)} node(s)"
            )
        return pick(nodes, count, sort=True)

    def pod(self, node: str, labels: dict[str, str], name: str) -> dict[str, Any]:
        c = self.config
        container: dict[str, Any] = {"name": "hog", "image": c.image, "command": c.stress_command()}
        spec: dict[str, Any] = {
            "nodeName": node,
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": False,  # stress-ng never calls the API
            "activeDeadlineSeconds": self.ctx.pod_deadline(c.duration),
            "containers": [container],
        }
        if c.taints:
            spec["tolerations"] = tolerations(c.taints)
        if c.hog_type == "io":
            volume = dict(c.io_target_pod_volume)
            container["volumeMounts"] = [
                {"name": volume.get("name", "node-volume"), "mountPath": c.io_target_pod_folder}
            ]
            spec["volumes"] = [volume]
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": c.namespace, "labels": {**labels, HOG_LABEL: c.hog_type}},
            "spec": spec,
        }

    def inject(self, plan: Plan) -> None:
        c = self.config
        for target in plan:
            labels = self.ctx.journal.object_labels()
            name = f"krkn-{c.hog_type}-hog-{labels[NONCE_LABEL]}"
            body = self.pod(target.name, labels, name)
            what = f"create {c.hog_type} hog Pod {c.namespace}/{name} on node {target.name}"
            steps.create_object(self.ctx, body, what)
            self.pods.append(name)
        if not self.ctx.dry_run:
            self.ctx.poll(
                self._all_started, timeout=START_TIMEOUT, what=f"{len(self.pods)} hog pod(s) to start"
            )

    def _phase(self, name: str) -> str | None:
        pod = kube.get(self.ctx.client, "v1", "Pod", name, self.config.namespace)
        return None if pod is None else (pod.get("status") or {}).get("phase")

    def _all_started(self) -> bool:
        phases = [self._phase(name) for name in self.pods]
        failed = [name for name, phase in zip(self.pods, phases, strict=True) if phase in (None, "Failed")]
        if failed:
            raise ScenarioError(f"hog pod(s) failed or vanished: {', '.join(failed)}")
        return all(phase in ("Running", "Succeeded") for phase in phases)

    def hold_seconds(self) -> float:
        return float(self.config.duration)
