"""A dry run of every catalogue type plans its records and sends no write to the cluster."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.rollback import Journal
from krkn_airflow_provider.rollback.policy import check_policy
from krkn_airflow_provider.scenarios import known_types, run_scenario, scenario_class
from tests.scenarios import catalogue_support as support

DF = "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sdb 1000 100 900 10% /data\n"


def documents(ns: str, node: str) -> dict[str, tuple[Any, int]]:
    """Type -> (document, records it plans)."""
    return {
        "pod_disruption_scenarios": (
            [{"id": "kill-pods", "config": {"namespace_pattern": f"^{ns}$", "name_pattern": "^web-0$"}}],
            1,  # a bare pod: its re-creation
        ),
        "application_outages_scenarios": (
            {"application_outage": {"duration": 0, "namespace": ns, "pod_selector": {"app": "web"}}},
            1,
        ),
        "hog_scenarios": ({"hog-type": "cpu", "duration": 0, "namespace": ns, "number-of-nodes": 1}, 1),
        "service_hijacking_scenarios": (
            {
                "service_name": "web",
                "service_namespace": ns,
                "service_target_port": "http-web-svc",
                "chaos_duration": 0,
                "plan": [{"resource": "/", "steps": {"GET": [{"status": 500}]}}],
            },
            3,
        ),
        "service_disruption_scenarios": ({"scenarios": [{"namespace": f"^{ns}$", "sleep": 0}]}, 1),
        "node_scenarios": (
            {"node_scenarios": [{"actions": ["node_drain", "node_taint"], "node_name": node}]},
            2,
        ),
        "container_scenarios": ({"scenarios": [{"namespace": f"^{ns}$", "label_selector": "app=web"}]}, 0),
        "network_chaos_ng_scenarios": (
            [
                {
                    "id": "node_network_chaos",
                    "namespace": ns,
                    "target": node,
                    "egress": True,
                    "loss": 5,
                    "test_duration": 0,
                }
            ],
            2,
        ),
        "time_scenarios": (
            {
                "time_scenarios": [
                    {
                        "action": "skew_time",
                        "object_type": "node",
                        "object_name": [node],
                        "namespace": ns,
                        "duration": 0,
                    }
                ]
            },
            2,
        ),
        "pvc_scenarios": (
            {"pvc_scenario": {"pod_name": "db", "namespace": ns, "fill_percentage": 50, "duration": 0}},
            1,
        ),
        "syn_flood_scenarios": (
            {"namespace": ns, "target-service": "web", "target-port": 80, "duration": 1, "number-of-pods": 2},
            2,
        ),
    }


@pytest.fixture
def cluster(kube: Any) -> str:
    emulator = kube.require_emulator("asserts the request log")
    node = f"krkn-dry-{secrets.token_hex(3)}"
    emulator.add_node(node)
    db = support.pod_manifest(
        "db", {"app": "db"}, volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]
    )
    db["spec"]["containers"][0]["volumeMounts"] = [{"name": "d", "mountPath": "/data"}]
    support.create(
        kube,
        support.pod_manifest("web-0", {"app": "web"}),
        support.service("web", {"app": "web"}, target_port="http-web-svc"),
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        },
        db,
    )
    support.wait_for(lambda: len(support.ready_pods(kube, "app in (web,db)")) == 2, what="pods ready")
    emulator.on_exec(r"df -kP /data", stdout=DF)
    return node


def shipped_types() -> list[str]:
    """The provider's own types (test DAGs register failing types of their own)."""
    return [t for t in known_types() if scenario_class(t).__module__.startswith("krkn_airflow_provider.")]


@pytest.mark.parametrize("type_name", shipped_types())
def test_dry_run_plans_records_and_writes_nothing(
    kube: Any, cluster: str, tmp_path: Path, type_name: str
) -> None:
    document, planned = documents(kube.namespace, cluster)[type_name]
    ctx = support.context(kube, tmp_path / "rb", type_name)
    ctx.journal = Journal(ctx.journal.store, ctx.journal.origin, dry_run=True)
    lines: list[str] = []
    ctx.log = lines.append
    kube.emulator.clear_requests()
    run_scenario(type_name, document, ctx)
    writes = [(r.method, r.path) for r in kube.emulator.writes() if not r.path.endswith("/exec")]
    assert writes == []
    execs = [e.command for e in kube.emulator.exec_log if e.namespace == kube.namespace]
    assert execs == ([["/bin/sh", "-c", "df -kP /data"]] if type_name == "pvc_scenarios" else [])
    if type_name in ("service_disruption_scenarios", "node_scenarios"):
        assert len(ctx.journal.planned) >= planned  # plus any bare pod the scheduler put there
    else:
        assert len(ctx.journal.planned) == planned
    assert not (tmp_path / "rb").exists() or not list((tmp_path / "rb").rglob("*.py"))
    assert any(line.startswith("dry run: would ") for line in lines)
    # What the type records is what the replay policy lets a replay apply.
    for record in ctx.journal.planned:
        check_policy(record.to_dict(), source=type_name)


HOLD_KEYS = ("duration", "test_duration", "chaos_duration", "sleep")


def with_long_holds(value: Any) -> Any:
    """``value`` with every hold key of Krkn's files set to 600 s, at any depth."""
    if isinstance(value, dict):
        return {k: 600 if k in HOLD_KEYS else with_long_holds(v) for k, v in value.items()}
    if isinstance(value, list):
        return [with_long_holds(v) for v in value]
    return value


@pytest.mark.parametrize("type_name", shipped_types())
def test_dry_run_returns_without_waiting_out_the_hold(
    kube: Any, cluster: str, tmp_path: Path, type_name: str
) -> None:
    """Any wait stops the run (the stop flag fires on the first "holding" line): a dry run never holds."""
    document, _ = documents(kube.namespace, cluster)[type_name]
    document = with_long_holds(document)
    if type_name == "node_scenarios":
        document["node_scenarios"][0]["duration"] = 600
    ctx = support.context(kube, tmp_path / "rb", type_name)
    ctx.journal = Journal(ctx.journal.store, ctx.journal.origin, dry_run=True)
    lines: list[str] = []
    held: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if "holding for" in line:
            held.append(line)

    ctx.log = log
    ctx.should_stop = lambda: bool(held)
    run_scenario(type_name, document, ctx)
    assert held == []
    if any(key in str(document) for key in HOLD_KEYS):
        assert any(line.startswith("dry run: would hold for 600 s") for line in lines), lines
