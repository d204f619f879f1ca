"""network_chaos_ng_scenarios: a chaos pod per node, plus a recorded cleanup Job with the reverse."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from krkn_airflow_provider.errors import ConfigError
from krkn_airflow_provider.rollback.records import MANAGED_BY_LABEL, NONCE_LABEL, RUN_LABEL
from krkn_airflow_provider.scenarios import load_configs, run_scenario
from krkn_airflow_provider.scenarios.network_chaos_ng import CHAOS_LABEL, Commands, NetworkChaosConfig
from tests.scenarios import catalogue_support as support

TYPE = "network_chaos_ng_scenarios"
IMAGE = "quay.io/krkn-chaos/krkn-network-chaos:latest"

# Krkn's samples (scenarios/kube/*.yml), comments dropped.
KRKN_SAMPLES = {
    "pod-network-filter": """
- id: pod_network_filter
  image: "quay.io/krkn-chaos/krkn-network-chaos:latest"
  wait_duration: 1
  test_duration: 60
  label_selector: "<pod_selector>"
  service_account: ""
  taints: []
  namespace: 'default'
  instance_count: 1
  execution: parallel
  ingress: false
  egress: true
  target: "<pod_name>"
  interfaces: []
  protocols:
    - tcp
    - udp
  ports:
    - 53
  force: false
""",
    "node-network-filter": """
- id: node_network_filter
  image: "quay.io/krkn-chaos/krkn-network-chaos:latest"
  wait_duration: 1
  test_duration: 10
  label_selector: "<node_selector>"
  service_account: ""
  taints: []
  namespace: 'default'
  instance_count: 1
  execution: parallel
  ingress: false
  egress: true
  target: '<node_name>'
  interfaces: []
  ports:
    - 2309
  protocols:
    - tcp
""",
    "pod-network-chaos": """
- id: pod_network_chaos
  image: "quay.io/krkn-chaos/krkn-network-chaos:latest"
  wait_duration: 1
  test_duration: 60
  label_selector: ""
  service_account: ""
  taints: []
  namespace: 'default'
  instance_count: 1
  target: "<pod_name>"
  execution: parallel
  interfaces: []
  ingress: true
  egress: true
  latency: 0s
  loss: 10
  bandwidth: 1gbit
""",
    "node-network-chaos": """
- id: pod_network_chaos
  image: "quay.io/krkn-chaos/krkn-network-chaos:latest"
  wait_duration: 1
  test_duration: 60
  label_selector: ""
  service_account: ""
  taints: []
  namespace: 'default'
  instance_count: 1
  target: "nginx-pod-prova-bis"
  execution: parallel
  interfaces: []
  ingress: true
  egress: true
  latency: 0
  loss: 80
  bandwidth: 1
""",
    "node_interface_down": """
- id: node_interface_down
  image: quay.io/krkn-chaos/krkn-network-chaos:latest
  namespace: default
  service_account: ""
  label_selector: "node-role.kubernetes.io/worker="
  target: ""
  instance_count: 1
  execution: serial
  interfaces: []
  test_duration: 60
  recovery_time: 30
  wait_duration: 0
  taints: []
""",
}


@pytest.fixture
def node(kube: Any) -> str:
    if kube.emulator is not None:
        name = f"krkn-net-{secrets.token_hex(3)}"
        kube.emulator.add_node(name)
        return name
    client = kube.dynamic()
    nodes = client.get(client.resources.get(api_version="v1", kind="Node")).to_dict()["items"]
    return str(next(n["metadata"]["name"] for n in nodes if not (n.get("spec") or {}).get("unschedulable")))


def filter_entry(namespace: str, node: str, **extra: Any) -> dict[str, Any]:
    entry = yaml.safe_load(KRKN_SAMPLES["node-network-filter"])[0]
    entry.update({"namespace": namespace, "target": node, "label_selector": "", "test_duration": 0, **extra})
    return dict(entry)


KINDS = (("v1", "Pod"), ("batch/v1", "Job"))


def current(kube: Any) -> dict[str, Any]:
    return support.state(kube, KINDS, namespace=kube.namespace)


@pytest.mark.parametrize("sample", sorted(KRKN_SAMPLES))
def test_krkn_samples_parse_unchanged(sample: str) -> None:
    (config,) = load_configs(TYPE, yaml.safe_load(KRKN_SAMPLES[sample]))
    assert config.model_dump()["image"] == IMAGE


def test_wrong_keys_are_refused_by_name() -> None:
    entry = yaml.safe_load(KRKN_SAMPLES["pod-network-filter"])[0]
    entry["portz"] = entry.pop("ports")
    with pytest.raises(ConfigError) as caught:
        load_configs(TYPE, [entry])
    assert "unknown key 'portz'" in str(caught.value)
    with pytest.raises(ConfigError, match=r"key 'id'"):
        load_configs(TYPE, [{**entry, "id": "pod_network_flter"}])


def test_filter_commands_and_their_exact_reverse() -> None:
    config = NetworkChaosConfig.model_validate(
        {"id": "node_network_filter", "target": "n", "ingress": True, "egress": True, "ports": [53]}
    )
    commands = Commands(config, "abcdefgh", None)
    rule = "-p tcp --dport 53 -m comment --comment krkn-abcdefgh -j DROP"
    prelude = ["set -u", 'NS=""', "IFACES=$($NS ip route show default | awk '{print $5; exit}')"]
    assert commands.apply() == [
        *prelude,
        "for IF in $IFACES; do",
        f"  $NS iptables -I INPUT {rule}",
        f"  $NS iptables -I OUTPUT {rule}",
        "done",
    ]
    assert commands.reverse() == [
        *prelude,
        "for IF in $IFACES; do",
        f"  while $NS iptables -D INPUT {rule} 2>/dev/null; do :; done",
        f"  while $NS iptables -D OUTPUT {rule} 2>/dev/null; do :; done",
        "done",
    ]


def test_netem_and_interface_down_reverse() -> None:
    config = NetworkChaosConfig.model_validate(
        {
            "id": "node_network_chaos",
            "target": "n",
            "egress": True,
            "latency": "100ms",
            "loss": 10,
            "interfaces": ["eth1"],
        }
    )
    commands = Commands(config, "abcdefgh", None)
    assert '  $NS tc qdisc add dev "$IF" root handle 7a6b: netem delay 100ms loss 10%' in commands.apply()
    ours = 'grep -q "netem 7a6b:"; then $NS tc qdisc del dev "$IF" root; fi'
    assert f'  if $NS tc qdisc show dev "$IF" root | {ours}' in commands.reverse()
    down = NetworkChaosConfig.model_validate({"id": "node_interface_down", "target": "n"})
    assert (
        Commands(down, "abcdefgh", None).reverse()[-1]
        == 'for IF in $IFACES; do $NS ip link set "$IF" up; done'
    )


def test_node_filter_creates_exact_pod_and_job_record_then_restores(
    kube: Any, node: str, tmp_path: Path
) -> None:
    before = current(kube)
    seen: dict[str, Any] = {}

    def log(line: str) -> None:
        if "holding for" in line:
            seen.update(current(kube))

    ctx = support.context(kube, tmp_path / "rb", TYPE, log=log)
    summary = run_scenario(TYPE, [filter_entry(kube.namespace, node, test_duration=1)], ctx).to_dict()
    assert summary["targets"] == [f"Node {node}"]

    (pod_key,) = seen
    pod = seen[pod_key]
    tag = pod["metadata"]["labels"][NONCE_LABEL]
    assert pod["metadata"]["name"] == f"krkn-net-{tag}"
    assert pod["metadata"]["labels"] == {
        MANAGED_BY_LABEL: "krkn-airflow-provider",
        RUN_LABEL: ctx.journal.run_uuid,
        NONCE_LABEL: tag,
        CHAOS_LABEL: "node_network_filter",
    }
    config = NetworkChaosConfig.model_validate(filter_entry(kube.namespace, node, test_duration=1))
    commands = Commands(config, tag, None)
    spec = pod["spec"]
    # hostPID: false is omitted from answers, like every false plain bool (golden 029)
    assert (spec["nodeName"], spec["hostNetwork"], spec.get("hostPID", False)) == (node, True, False)
    (container,) = spec["containers"]
    assert container["image"] == IMAGE
    assert container["command"] == ["/bin/sh", "-c", commands.chaos_script()]
    assert container["securityContext"] == {"privileged": True}

    job_record, pod_record = support.records(ctx)
    assert (pod_record["action"], pod_record["name"], pod_record["guard"]) == (
        "delete",
        pod["metadata"]["name"],
        {k: v for k, v in pod["metadata"]["labels"].items() if k != CHAOS_LABEL},
    )
    assert (
        job_record["action"] == "create"
        and job_record["guard"] == job_record["manifest"]["metadata"]["labels"]
    )
    job = job_record["manifest"]
    assert job["spec"]["ttlSecondsAfterFinished"] == 60
    job_pod = job["spec"]["template"]["spec"]
    assert (job_pod["nodeName"], job_pod["restartPolicy"], job_pod["tolerations"]) == (
        node,
        "Never",
        [{"operator": "Exists"}],
    )
    assert job_pod["containers"][0]["command"] == ["/bin/sh", "-c", commands.reverse_script()]

    support.wait_for(lambda: current(kube) == before, what="state before")


def test_pod_filter_runs_in_the_pod_network_namespace(kube: Any, tmp_path: Path) -> None:
    support.create(kube, support.pod_manifest("web", {"app": "web"}))
    support.wait_for(lambda: support.ready_pods(kube, "app=web"), what="web ready")
    web = support.get(kube, "v1", "Pod", "web") or {}
    seen: dict[str, Any] = {}

    def log(line: str) -> None:
        if "holding for" in line:
            seen.update(current(kube))

    entry = yaml.safe_load(KRKN_SAMPLES["pod-network-filter"])[0]
    entry.update(namespace=kube.namespace, label_selector="app=web", target="web", test_duration=1)
    run_scenario(TYPE, [entry], support.context(kube, tmp_path / "rb", TYPE, log=log))
    (chaos,) = [pod for key, pod in seen.items() if key != "Pod web"]
    assert chaos["spec"]["nodeName"] == web["spec"]["nodeName"]
    assert chaos["spec"]["hostPID"] is True
    script = chaos["spec"]["containers"][0]["command"][2]
    assert f'grep -q " {web["status"]["podIP"]}/"' in script
    assert "$NS iptables -I OUTPUT -p udp --dport 53 -m comment" in script


def test_each_undo_runs_twice_and_by_hand(kube: Any, node: str, tmp_path: Path) -> None:
    ctx = support.inject_only(kube, tmp_path / "rb", TYPE, [filter_entry(kube.namespace, node)])
    assert support.undo_twice(ctx, kube) == ["undone", "undone"]  # delete the pod, create the Job
    (job,) = [value for key, value in current(kube).items() if key.startswith("Job ")]
    assert job["spec"]["template"]["spec"]["nodeName"] == node
    assert not [pod for pod in current(kube).values() if CHAOS_LABEL in pod["metadata"]["labels"]]


def test_sigkill_after_the_chaos_pod_then_rollback(kube: Any, node: str, tmp_path: Path) -> None:
    def chaos_pod() -> bool:
        return any(CHAOS_LABEL in pod["metadata"].get("labels", {}) for pod in current(kube).values())

    support.sigkill_then_rollback(
        kube, tmp_path / "rb", TYPE, [filter_entry(kube.namespace, node, test_duration=120)], chaos_pod
    )
    # The chaos pod is gone and the reverse commands run on its node.
    support.wait_for(lambda: not chaos_pod(), what="chaos pod gone")
    (job,) = [value for key, value in current(kube).items() if key.startswith("Job ")]
    assert job["spec"]["template"]["spec"]["nodeName"] == node
    assert "iptables -D OUTPUT" in job["spec"]["template"]["spec"]["containers"][0]["command"][2]


def test_serial_execution_cleans_up_each_node_before_the_next(kube: Any, tmp_path: Path) -> None:
    emulator = kube.require_emulator("adds two labelled nodes")
    group = secrets.token_hex(3)
    for index in (1, 2):
        emulator.add_node(f"krkn-serial-{group}-{index}", labels={"krkn-serial": group})
    before = current(kube)
    lines: list[str] = []
    ctx = support.context(kube, tmp_path / "rb", TYPE, log=lines.append)
    entry = filter_entry(
        kube.namespace, "", label_selector=f"krkn-serial={group}", instance_count=0, execution="serial"
    )
    run_scenario(TYPE, [entry], ctx)
    steps = [
        line.split(" Pod ")[0] if line.startswith("create") else line.split(" in ")[0]
        for line in lines
        if line.startswith(("create node_network_filter", "replay of"))
    ]
    assert steps == ["create node_network_filter", "replay of 2 record(s)"] * 2 + [
        "replay of 0 record(s)"
    ]  # nothing left for the entry's cleanup
    support.wait_for(lambda: current(kube) == before, what="state before")


SCRIPT_CONFIGS = [
    {
        "id": "pod_network_filter",
        "ingress": True,
        "egress": True,
        "ports": [53, 80],
        "protocols": ["tcp", "udp"],
    },
    {"id": "node_network_filter", "egress": True, "ports": [2309], "interfaces": ["eth0", "eth1"]},
    {
        "id": "pod_network_chaos",
        "ingress": True,
        "egress": True,
        "latency": "50ms",
        "loss": 5,
        "bandwidth": "10mbit",
    },
    {"id": "node_network_chaos", "ingress": True, "loss": 80, "interfaces": ["ens3"]},
    {"id": "node_interface_down", "interfaces": ["eth1"]},
]


@pytest.mark.parametrize("settings", SCRIPT_CONFIGS, ids=[c["id"] for c in SCRIPT_CONFIGS])
def test_every_generated_script_is_valid_posix_shell(settings: dict[str, Any], tmp_path: Path) -> None:
    config = NetworkChaosConfig.model_validate({**settings, "target": "x"})
    pod_ip = "10.1.2.3" if config.pod_target else None
    commands = Commands(config, "abcdefgh", pod_ip)
    for name, script in (("chaos", commands.chaos_script()), ("reverse", commands.reverse_script())):
        path = tmp_path / f"{name}.sh"
        path.write_text(script + "\n")
        checked = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, f"{name}: {checked.stderr}\n{script}"


FAKE_TOOLS = {
    # Each fake logs its arguments; `iptables -D` finds one rule per spec, then none.
    "iptables": 'echo "iptables $*" >> "$LOG"; case "$1" in -D) grep -qxF -- "$*" "$LOG.deleted" && exit 1;'
    ' echo "$*" >> "$LOG.deleted";; esac; exit 0',
    "tc": 'echo "tc $*" >> "$LOG"; [ "$2" = show ] && echo "qdisc netem 7a6b: root refcnt 2"; exit 0',
    "ip": 'case "$*" in "route show default") echo "default via 10.0.0.1 dev eth9 proto dhcp";;'
    ' "-o addr show") echo "2: eth0    inet 10.1.2.3/24 brd 10.1.2.255 scope global eth0";;'
    ' "link show "*) echo "ip $*" >> "$LOG"; exit 0;; *) echo "ip $*" >> "$LOG";; esac',
    "nsenter": 'shift 3; exec "$@"',  # nsenter -t PID -n CMD...: run CMD here
    "modprobe": "exit 0",
    "sleep": "exit 0",
}


def run_with_fake_tools(script: str, tmp_path: Path) -> list[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in FAKE_TOOLS.items():
        tool = bin_dir / name
        tool.write_text(f"#!/bin/sh\n{body}\n")
        tool.chmod(0o755)
    log = tmp_path / "log"
    log.write_text("")
    (tmp_path / "log.deleted").write_text("")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "LOG": str(log)}
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, timeout=30)
    assert done.returncode == 0, done.stderr
    return [line for line in log.read_text().splitlines() if line]


def test_pod_filter_script_applies_then_reverses_in_the_pod_netns(tmp_path: Path) -> None:
    config = NetworkChaosConfig.model_validate(
        {"id": "pod_network_filter", "target": "x", "egress": True, "ports": [53], "test_duration": 0}
    )
    calls = run_with_fake_tools(Commands(config, "abcdefgh", "10.1.2.3").chaos_script(), tmp_path)
    rule = "OUTPUT -p tcp --dport 53 -m comment --comment krkn-abcdefgh -j DROP"
    assert calls == [f"iptables -I {rule}", f"iptables -D {rule}", f"iptables -D {rule}"]


def test_netem_script_applies_then_removes_only_its_qdisc(tmp_path: Path) -> None:
    config = NetworkChaosConfig.model_validate(
        {"id": "node_network_chaos", "target": "x", "egress": True, "latency": "50ms", "test_duration": 0}
    )
    calls = run_with_fake_tools(Commands(config, "abcdefgh", None).chaos_script(), tmp_path)
    assert calls == [
        "tc qdisc add dev eth9 root handle 7a6b: netem delay 50ms",
        "tc qdisc show dev eth9 root",
        "tc qdisc del dev eth9 root",
    ]
