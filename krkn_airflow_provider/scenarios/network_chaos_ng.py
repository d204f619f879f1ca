"""``network_chaos_ng_scenarios``: iptables filters, tc netem and interface down, per node.

Krkn file shape: a list of ``{id, image, wait_duration, test_duration, label_selector,
service_account, taints, namespace, instance_count, execution, ingress, egress, target,
interfaces, ports, protocols, force, latency, loss, bandwidth, recovery_time}``, ``id`` one of

* ``pod_network_filter`` / ``node_network_filter`` — ``iptables`` DROP rules for
  ``ports`` x ``protocols`` on INPUT (``ingress``) and OUTPUT (``egress``);
* ``pod_network_chaos`` / ``node_network_chaos`` — ``tc`` netem ``latency``, ``loss``,
  ``bandwidth`` on egress (root qdisc) and ingress (through an ifb device);
* ``node_interface_down`` — ``ip link set <if> down``.

Pod targets are pods in ``namespace`` (``label_selector`` or ``target`` by name); node
targets are nodes (``label_selector`` or ``target``). ``instance_count`` of them are hit
(0: all). For each target a privileged, host-network chaos pod is pinned to its node and
applies the commands (inside the target pod's network namespace for pod targets, found by
the pod's IP), holds ``test_duration`` seconds, and runs the reverse commands itself when
it ends or is stopped. Before it is created two records are written:

1. a ``create`` record of a short-lived cleanup Job (TTL, pinned to the same node) that
   runs exactly the reverse commands, so rules left by a chaos pod that died are removed;
2. a guarded ``delete`` record of the chaos pod.

Cleanup (newest first) deletes the chaos pod, then creates the Job; recovery waits until
every Job succeeded and deletes it. Every reverse command is idempotent: it removes only
what carries this run's tag, and succeeds when nothing is left. ``execution: serial``
hits one target at a time (hold and cleanup per target); ``parallel`` hits all at once.
"""

from __future__ import annotations

import re
import shlex
import time
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.rollback.records import NONCE_LABEL
from krkn_airflow_provider.scenarios import kube, node_jobs, steps
from krkn_airflow_provider.scenarios.base import Scenario, ScenarioConfig, ScenarioContext, register
from krkn_airflow_provider.scenarios.fields import Count, Number, Seconds, StrictBool, Taints, tolerations
from krkn_airflow_provider.scenarios.plan import Plan, Target, pick

DEFAULT_IMAGE = "quay.io/krkn-chaos/krkn-network-chaos:latest"
CHAOS_LABEL = "krkn.io/network-chaos"
START_TIMEOUT = 180.0
# netem qdisc handle this provider uses, so a reverse command removes only its own qdisc.
HANDLE = "7a6b:"

ScenarioId = Literal[
    "pod_network_filter",
    "node_network_filter",
    "pod_network_chaos",
    "node_network_chaos",
    "node_interface_down",
]
Protocol = Literal["tcp", "udp"]
PROTOCOLS: tuple[Protocol, ...] = ("tcp",)
RATE_RE = re.compile(r"^\d+(\.\d+)?(bit|kbit|mbit|gbit|tbit|bps|kbps|mbps|gbps|tbps)?$")
TIME_RE = re.compile(r"^\d+(\.\d+)?(us|ms|s)?$")
IFACE_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")


def _zero(value: str | int | float | None) -> bool:
    if value is None:
        return True
    digits = re.match(r"^\d+(\.\d+)?", str(value))
    return digits is None or float(digits.group(0)) == 0


class NetworkChaosConfig(ScenarioConfig):
    id: ScenarioId
    image: str = Field(DEFAULT_IMAGE, min_length=1)
    wait_duration: Seconds = Field(0, ge=0)
    test_duration: Seconds = Field(60, ge=0)
    label_selector: str = ""
    service_account: str = ""
    taints: Taints = Field(default_factory=list)
    namespace: str = Field("default", min_length=1)
    instance_count: Count = Field(1, ge=0)
    execution: Literal["serial", "parallel"] = "parallel"
    ingress: StrictBool = False
    egress: StrictBool = False
    target: str = ""
    interfaces: list[str] = Field(default_factory=list)
    ports: list[Number] = Field(default_factory=list)
    protocols: list[Protocol] = Field(default_factory=lambda: list(PROTOCOLS))
    force: StrictBool = False
    latency: str | int | float | None = None
    loss: str | int | float | None = None
    bandwidth: str | int | float | None = None
    recovery_time: Seconds = Field(0, ge=0)

    @field_validator("interfaces")
    @classmethod
    def _interfaces(cls, interfaces: list[str]) -> list[str]:
        for name in interfaces:
            if not IFACE_RE.match(name):
                raise ValueError(f"{name!r} is not a network interface name")
        return interfaces

    @field_validator("ports")
    @classmethod
    def _ports(cls, ports: list[int]) -> list[int]:
        for port in ports:
            if not 0 < port < 65536:
                raise ValueError(f"port {port} is not between 1 and 65535")
        return ports

    @model_validator(mode="after")
    def _per_id(self) -> NetworkChaosConfig:
        if not self.label_selector and not self.target:
            raise ValueError("set 'label_selector' or 'target' to choose what to hit")
        if self.id.endswith("_filter"):
            if not self.ports:
                raise ValueError(f"{self.id}: set 'ports' to filter")
            if not (self.ingress or self.egress):
                raise ValueError(f"{self.id}: set 'ingress' and/or 'egress' to true")
        if self.id.endswith("_network_chaos"):
            if not (self.ingress or self.egress):
                raise ValueError(f"{self.id}: set 'ingress' and/or 'egress' to true")
            if _zero(self.latency) and _zero(self.loss) and _zero(self.bandwidth):
                raise ValueError(f"{self.id}: set 'latency', 'loss' or 'bandwidth'")
            if not _zero(self.latency) and not TIME_RE.match(str(self.latency)):
                raise ValueError(f"'latency' {self.latency!r}: expected a number with us, ms or s")
            if not _zero(self.bandwidth) and not RATE_RE.match(str(self.bandwidth)):
                raise ValueError(
                    f"'bandwidth' {self.bandwidth!r}: expected a number with bit, kbit, mbit, gbit"
                )
            if not _zero(self.loss) and not re.match(r"^\d+(\.\d+)?%?$", str(self.loss)):
                raise ValueError(f"'loss' {self.loss!r}: expected a percentage")
        return self

    @property
    def pod_target(self) -> bool:
        return self.id.startswith("pod_")


class Commands:
    """The shell commands of one target: apply, and the exact reverse."""

    def __init__(self, config: NetworkChaosConfig, tag: str, pod_ip: str | None) -> None:
        self.c = config
        self.tag = tag  # the chaos pod's nonce: tags every rule, names the ifb device
        self.pod_ip = pod_ip

    def _prelude(self, *, missing: str) -> list[str]:
        """Find the network namespace and interfaces; ``missing`` runs when the pod's is gone."""
        lines = ["set -u"]
        if self.pod_ip is not None:
            # The target pod's network namespace: the process whose netns holds its IP.
            ip = shlex.quote(self.pod_ip)
            gone = missing
            lines += [
                'PID=""',
                "for d in /proc/[0-9]*; do p=${d#/proc/}; "
                f'if nsenter -t "$p" -n ip -o addr show 2>/dev/null | grep -q " {ip}/"; '
                "then PID=$p; break; fi; done",
                f'[ -n "$PID" ] || {{ echo "no network namespace holds {ip}"; {gone}; }}',
                'NS="nsenter -t $PID -n"',
            ]
        else:
            lines.append('NS=""')
        if self.c.interfaces:
            lines.append(f"IFACES={shlex.quote(' '.join(self.c.interfaces))}")
        else:
            lines.append("IFACES=$($NS ip route show default | awk '{print $5; exit}')")
        return lines

    @property
    def comment(self) -> str:
        return f"krkn-{self.tag}"

    def _rules(self) -> list[str]:
        """iptables rule specs (chain and match) without the -I/-D verb."""
        chains = [chain for chain, on in (("INPUT", self.c.ingress), ("OUTPUT", self.c.egress)) if on]
        rules = []
        for chain in chains:
            flag = "-i" if chain == "INPUT" else "-o"
            for protocol in self.c.protocols:
                for port in self.c.ports:
                    iface = f'{flag} "$IF" ' if self.c.interfaces else ""
                    match = f"-p {protocol} --dport {port} -m comment --comment {self.comment}"
                    rules.append(f"{chain} {iface}{match} -j DROP")
        return rules

    def _netem(self) -> str:
        parts = ["netem"]
        if not _zero(self.c.latency):
            latency = str(self.c.latency)
            parts.append(f"delay {latency if latency[-1].isalpha() else latency + 'ms'}")
        if not _zero(self.c.loss):
            parts.append(f"loss {str(self.c.loss).rstrip('%')}%")
        if not _zero(self.c.bandwidth):
            rate = str(self.c.bandwidth)
            parts.append(f"rate {rate if rate[-1].isalpha() else rate + 'mbit'}")
        return " ".join(parts)

    @property
    def ifb(self) -> str:
        """The ifb device of the interface number ``$N`` (at most 15 characters)."""
        return f"kifb{self.tag[:6]}$N"

    def apply(self) -> list[str]:
        c = self.c
        lines = self._prelude(missing="exit 1")
        if c.id.endswith("_filter"):
            body = [f"$NS iptables -I {rule}" for rule in self._rules()]
            lines += ["for IF in $IFACES; do", *[f"  {line}" for line in body], "done"]
        elif c.id.endswith("_network_chaos"):
            body = ["N=$((N + 1))"]
            if c.egress:
                body.append(f'$NS tc qdisc add dev "$IF" root handle {HANDLE} {self._netem()}')
            if c.ingress:
                # The ingress qdisc first: if the interface has one already, nothing of ours
                # exists yet and the reverse (keyed on our ifb device) leaves theirs alone.
                body += [
                    '$NS tc qdisc add dev "$IF" handle ffff: ingress',
                    "modprobe ifb 2>/dev/null || true",
                    f"$NS ip link add {self.ifb} type ifb",
                    f"$NS ip link set {self.ifb} up",
                    '$NS tc filter add dev "$IF" parent ffff: protocol all u32 match u32 0 0 '
                    f"action mirred egress redirect dev {self.ifb}",
                    f"$NS tc qdisc add dev {self.ifb} root handle {HANDLE} {self._netem()}",
                ]
            lines += ["N=0", "for IF in $IFACES; do", *[f"  {line}" for line in body], "done"]
        else:
            lines += ['for IF in $IFACES; do $NS ip link set "$IF" down; done']
        return lines

    def reverse(self, *, missing: str = "exit 0") -> list[str]:
        """Idempotent: removes only what carries this tag; succeeds when nothing is left."""
        c = self.c
        lines = self._prelude(missing=missing)
        if c.id.endswith("_filter"):
            body = [f"while $NS iptables -D {rule} 2>/dev/null; do :; done" for rule in self._rules()]
            lines += ["for IF in $IFACES; do", *[f"  {line}" for line in body], "done"]
        elif c.id.endswith("_network_chaos"):
            body = ["N=$((N + 1))"]
            if c.egress:
                body.append(
                    f'if $NS tc qdisc show dev "$IF" root | grep -q "netem {HANDLE}"; '
                    f'then $NS tc qdisc del dev "$IF" root; fi'
                )
            if c.ingress:
                body += [
                    f"if $NS ip link show {self.ifb} >/dev/null 2>&1; then",
                    '  $NS tc qdisc del dev "$IF" handle ffff: ingress 2>/dev/null || true',
                    f"  $NS ip link del {self.ifb}",
                    "fi",
                ]
            lines += ["N=0", "for IF in $IFACES; do", *[f"  {line}" for line in body], "done"]
        else:
            lines += ['for IF in $IFACES; do $NS ip link set "$IF" up; done']
        return lines

    def chaos_script(self) -> str:
        """Apply, hold, and reverse on exit or when stopped (a deleted pod gets SIGTERM)."""
        reverse = "\n".join(f"  {line}" for line in self.reverse(missing="return 0")[1:])
        return "\n".join(
            [
                "set -u",
                "undo() {",
                reverse,
                "}",
                "trap 'undo; exit 0' TERM INT",
                "(",
                "  set -e",
                *[f"  {line}" for line in self.apply()[1:]],
                ") || { undo; exit 1; }",
                f"sleep {self.c.test_duration} & wait $!",
                "undo",
            ]
        )

    def reverse_script(self) -> str:
        return "\n".join(self.reverse())


@register
class NetworkChaosNg(Scenario[NetworkChaosConfig]):
    type_name = "network_chaos_ng_scenarios"
    namespace_fields = ("namespace",)
    config_model = NetworkChaosConfig

    def __init__(self, config: NetworkChaosConfig, ctx: ScenarioContext) -> None:
        super().__init__(config, ctx)
        self.chaos_pods: list[str] = []
        self.jobs: list[tuple[str, dict[str, str]]] = []  # (name, labels)
        self.ready_before = 0

    def _pods(self) -> list[dict[str, Any]]:
        c = self.config
        pods = kube.items(
            self.ctx.client, "v1", "Pod", namespace=c.namespace, label_selector=c.label_selector or None
        )
        return [
            pod
            for pod in pods
            if (not c.target or pod["metadata"]["name"] == c.target)
            and not (pod["metadata"].get("labels") or {}).get(CHAOS_LABEL)
        ]

    def _found(self) -> tuple[list[Target], str]:
        """Every target the selection matches (sorted), and what to say when there is none."""
        c = self.config
        if c.pod_target:
            found = [
                Target.of(pod, "Pod")
                for pod in self._pods()
                if kube.pod_ready(pod)
                and (pod.get("spec") or {}).get("nodeName")
                and (pod.get("status") or {}).get("podIP")
                and not (pod.get("spec") or {}).get("hostNetwork")
            ]
            return sorted(found, key=str), f"no ready pod in namespace {c.namespace!r} matches"
        if c.target:
            node = kube.get(self.ctx.client, "v1", "Node", c.target, None)
            nodes = [node] if node is not None else []
        else:
            nodes = kube.items(self.ctx.client, "v1", "Node", label_selector=c.label_selector)
        return sorted((Target.of(node, "Node") for node in nodes), key=str), "no node matches"

    def plan(self) -> Plan:
        c = self.config
        if kube.get(self.ctx.client, "v1", "Namespace", c.namespace, None) is None:
            raise ScenarioError(f"namespace {c.namespace!r} does not exist")
        found, what = self._found()
        shown = " ".join(
            f"{key}={getattr(c, key)!r}" for key in ("label_selector", "target") if getattr(c, key)
        )
        if not found:
            raise ScenarioError(f"{what} {shown}")
        count = c.instance_count or len(found)
        if count > len(found):
            raise ScenarioError(f"instance_count={count} but {shown} matches {len(found)}")
        plan = pick(found, count, sort=True)
        self.ready_before = len(plan) if c.pod_target else 0
        return plan

    def _spec(self, node: str, script: str) -> dict[str, Any]:
        c = self.config
        return node_jobs.pod_spec(
            node, c.image, script, host_network=True, host_pid=c.pod_target, service_account=c.service_account
        )

    def chaos_pod(self, name: str, labels: dict[str, str], node: str, commands: Commands) -> dict[str, Any]:
        c = self.config
        spec = self._spec(node, commands.chaos_script())
        spec["terminationGracePeriodSeconds"] = 30  # time for the pod's own reverse commands
        if c.taints:
            spec["tolerations"] = tolerations(c.taints)
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": c.namespace, "labels": {**labels, CHAOS_LABEL: c.id}},
            "spec": spec,
        }

    def inject_one(self, target: Target) -> list[str]:
        """Record and create the chaos pod of one target; returns its record ids."""
        c = self.config
        ctx = self.ctx
        if target.kind == "Pod":
            node, pod_ip = target.obj["spec"]["nodeName"], target.obj["status"]["podIP"]
        else:
            node, pod_ip = target.name, None
        already = len(ctx.journal.recorded)
        pod_labels = ctx.journal.object_labels()
        tag = pod_labels[NONCE_LABEL]
        commands = Commands(c, tag, pod_ip)
        job_labels = ctx.journal.object_labels()
        job_name = f"krkn-net-undo-{job_labels[NONCE_LABEL]}"
        spec = self._spec(node, commands.reverse_script())
        job = node_jobs.undo_job(job_name, c.namespace, job_labels, spec)
        node_jobs.record_undo_job(ctx, job, f"create Job {c.namespace}/{job_name} on {node}: reverse {c.id}")
        self.jobs.append((job_name, job_labels))
        name = f"krkn-net-{tag}"
        steps.create_object(
            ctx,
            self.chaos_pod(name, pod_labels, node, commands),
            f"create {c.id} Pod {c.namespace}/{name} on node {node} for {target}",
        )
        self.chaos_pods.append(name)
        if not ctx.dry_run:
            node_jobs.wait_running(ctx, c.namespace, name, START_TIMEOUT)
        return [entry.id for entry in ctx.journal.recorded[already:]]

    def inject(self, plan: Plan) -> None:
        if self.config.execution == "parallel":
            for target in plan:
                self.inject_one(target)
            return
        for target in plan:  # serial: hold and clean up one target at a time
            ids = self.inject_one(target)
            self.ctx.wait(float(self.config.test_duration), f"{self.config.id} on {target}")
            if ids:
                self.ctx.undo(ids)

    def hold_seconds(self) -> float:
        return float(self.config.test_duration) if self.config.execution == "parallel" else 0.0

    def recover(self) -> float:
        started = time.monotonic()
        c = self.config
        node_jobs.finish(self.ctx, c.namespace, self.jobs, f"{c.id} rules")
        if c.recovery_time:
            self.ctx.wait(float(c.recovery_time), f"{c.id}: recovery time")
        if c.pod_target:
            self.ctx.poll(
                lambda: sum(1 for pod in self._pods() if kube.pod_ready(pod)) >= self.ready_before,
                timeout=node_jobs.JOB_TIMEOUT,
                what="target pods ready",
            )
        return time.monotonic() - started
