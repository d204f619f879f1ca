"""``pvc_scenarios``: fill a PersistentVolumeClaim up to ``fill_percentage`` through exec.

Krkn file shape: ``{pvc_scenario: {pvc_name | pod_name, namespace, fill_percentage,
duration, block_size}}``. The pod that mounts the claim (the first running one for
``pvc_name``; ``pod_name`` otherwise) measures the volume with ``df``; a file
``kraken-<nonce>.tmp`` of the missing size is then written with ``fallocate`` (``dd`` with
``block_size`` when the image has no ``fallocate``). Its ``exec`` record, written first,
removes exactly that file. Recovery: the file is gone.
"""

from __future__ import annotations

import math
import time
from typing import Any

from pydantic import Field, model_validator

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.rollback.naming import new_suffix
from krkn_airflow_provider.scenarios import kube, steps
from krkn_airflow_provider.scenarios.base import Scenario, ScenarioConfig, ScenarioContext, register
from krkn_airflow_provider.scenarios.fields import Number, Seconds
from krkn_airflow_provider.scenarios.plan import Plan, Target

RECOVERY_TIMEOUT = 60.0


class PvcScenario(ScenarioConfig):
    pvc_name: str | None = None
    pod_name: str | None = None
    namespace: str = Field(min_length=1)
    fill_percentage: Number = Field(50, ge=1, le=99)
    duration: Seconds = Field(60, ge=0)
    block_size: Number = Field(102400, ge=512, le=1 << 30)

    @model_validator(mode="after")
    def _target(self) -> PvcScenario:
        if not self.pvc_name and not self.pod_name:
            raise ValueError("set 'pvc_name' or 'pod_name'")
        return self


class PvcEntry(ScenarioConfig):
    pvc_scenario: PvcScenario


def parse_df(text: str) -> tuple[int, int]:
    """(total, used) in KiB from ``df -kP`` output (header, then one line)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    try:
        fields = lines[-1].split()
        return int(fields[1]), int(fields[2])
    except (IndexError, ValueError):
        raise ScenarioError(f"cannot read df output: {text.strip()[:200]!r}") from None


@register
class Pvc(Scenario[PvcEntry]):
    type_name = "pvc_scenarios"
    config_model = PvcEntry

    def __init__(self, config: PvcEntry, ctx: ScenarioContext) -> None:
        super().__init__(config, ctx)
        self.settings = config.pvc_scenario
        self.pod: dict[str, Any] = {}
        self.container = ""
        self.mount = ""
        self.file = ""
        self.filled_at = 0.0

    def _mount(self, pod: dict[str, Any], claim: str | None) -> tuple[str, str] | None:
        """(container, mount path) of the claim (the first claim when ``claim`` is None)."""
        spec = pod.get("spec") or {}
        volumes = [
            volume["name"]
            for volume in spec.get("volumes") or []
            if (volume.get("persistentVolumeClaim") or {}).get("claimName")
            and (claim is None or volume["persistentVolumeClaim"]["claimName"] == claim)
        ]
        for container in spec.get("containers") or []:
            for mount in container.get("volumeMounts") or []:
                if mount.get("name") in volumes and not mount.get("readOnly"):
                    return container["name"], str(mount["mountPath"])
        return None

    def plan(self) -> Plan:
        s = self.settings
        if s.pvc_name:
            if kube.get(self.ctx.client, "v1", "PersistentVolumeClaim", s.pvc_name, s.namespace) is None:
                raise ScenarioError(f"PersistentVolumeClaim {s.namespace}/{s.pvc_name} does not exist")
            pods = [
                pod
                for pod in kube.items(self.ctx.client, "v1", "Pod", namespace=s.namespace)
                if kube.pod_ready(pod) and self._mount(pod, s.pvc_name)
            ]
            if not pods:
                raise ScenarioError(
                    f"no ready pod mounts PersistentVolumeClaim {s.namespace}/{s.pvc_name} writable"
                )
            pod = pods[0]
        else:
            found = kube.get(self.ctx.client, "v1", "Pod", s.pod_name or "", s.namespace)
            if found is None or not kube.pod_ready(found):
                raise ScenarioError(f"Pod {s.namespace}/{s.pod_name} does not exist or is not ready")
            pod = found
        mount = self._mount(pod, s.pvc_name)
        if mount is None:
            raise ScenarioError(f"{kube.pod_key(pod)} mounts no PersistentVolumeClaim writable")
        self.pod, (self.container, self.mount) = pod, mount
        return Plan((Target.of(pod, "Pod", detail=self.mount),))

    def _run(self, command: str) -> tuple[int | None, str, str]:
        return steps.exec_in(self.ctx, self.pod, self.container, ["/bin/sh", "-c", command])

    def inject(self, plan: Plan) -> None:
        s = self.settings
        code, out, err = self._run(f"df -kP {self.mount}")
        if code not in (0, None):
            raise ScenarioError(f"df failed in {kube.pod_key(self.pod)}: {err.strip()[:200]}")
        total, used = parse_df(out)
        missing = math.ceil(total * s.fill_percentage / 100) - used
        if missing <= 0:
            raise ScenarioError(
                f"{self.mount} is already {100 * used / max(total, 1):.0f}% full; "
                f"fill_percentage={s.fill_percentage} must be higher"
            )
        size = missing * 1024
        self.file = f"{self.mount.rstrip('/')}/kraken-{new_suffix()}.tmp"
        undo = steps.exec_record(self.pod, self.container, f"rm -f {self.file}")
        count = math.ceil(size / s.block_size)
        fill = (
            f"fallocate -l {size} {self.file} 2>/dev/null || "
            f"dd if=/dev/zero of={self.file} bs={s.block_size} count={count} 2>/dev/null"
        )

        def write() -> None:
            code, _, err = self._run(fill)
            if code not in (0, None):
                raise ScenarioError(
                    f"cannot fill {self.mount} in {kube.pod_key(self.pod)}: {err.strip()[:200]}"
                )

        what = f"write {size} bytes to {self.file} in {kube.pod_key(self.pod)} (to {s.fill_percentage}%)"
        self.ctx.change(undo, what, write)
        self.filled_at = time.monotonic()

    def hold_seconds(self) -> float:
        return float(self.settings.duration)

    def recover(self) -> float:
        self.ctx.poll(
            lambda: self._run(f"test ! -e {self.file}")[0] in (0, None),
            timeout=RECOVERY_TIMEOUT,
            what=f"{self.file} removed",
        )
        return time.monotonic() - self.filled_at
