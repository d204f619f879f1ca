"""service_hijacking_scenarios: plan ConfigMap, responder Pod, Service selector patch; all undone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from krkn_airflow_provider.errors import ConfigError
from krkn_airflow_provider.rollback.records import MANAGED_BY_LABEL, NONCE_LABEL, RUN_LABEL
from krkn_airflow_provider.scenarios import load_configs, run_scenario
from krkn_airflow_provider.scenarios.service_hijacking import HIJACK_LABEL
from tests.scenarios import catalogue_support as support

TYPE = "service_hijacking_scenarios"

# Krkn's sample file (scenarios/kube/service_hijacking.yaml), comments dropped.
KRKN_SAMPLE = """
service_target_port: http-web-svc
service_name: nginx-service
service_namespace: default
image: quay.io/krkn-chaos/krkn-service-hijacking:v0.1.3
chaos_duration: 30
privileged: True
plan:
  - resource: "/list/index.php"
    steps:
      GET:
        - duration: 15
          status: 500
          mime_type: "application/json"
          payload: |
            {
              "status":"internal server error"
            }
        - duration: 15
          status: 201
          mime_type: "application/json"
          payload: |
            {
              "status":"resource created"
            }
      POST:
        - duration: 15
          status: 401
          mime_type: "application/json"
          payload: |
            {
               "status": "unauthorized"
            }
        - duration: 15
          status: 404
          mime_type: "text/plain"
          payload: "not found"
  - resource: "/patch"
    steps:
      PATCH:
        - duration: 15
          status: 201
          mime_type: "text/plain"
          payload: "resource patched"
        - duration: 15
          status: 400
          mime_type: "text/plain"
          payload: "bad request"
"""

KINDS = (("v1", "Service"), ("v1", "Pod"), ("v1", "ConfigMap"))


def document(namespace: str, duration: int = 0) -> dict[str, Any]:
    doc = yaml.safe_load(KRKN_SAMPLE)
    doc.update(service_name="web", service_namespace=namespace, chaos_duration=duration)
    return dict(doc)


@pytest.fixture
def web(kube: Any) -> None:
    support.create(
        kube,
        support.pod_manifest("web-0", {"app": "web", "tier": "front"}),
        support.service("web", {"app": "web", "tier": "front"}, target_port="http-web-svc"),
    )
    support.wait_for(lambda: len(support.ready_pods(kube, "app=web")) == 1, what="web pod ready")


def test_krkn_sample_parses_unchanged() -> None:
    (config,) = load_configs(TYPE, yaml.safe_load(KRKN_SAMPLE))
    dumped = config.model_dump()
    assert dumped["service_target_port"] == "http-web-svc"
    assert dumped["chaos_duration"] == 30 and dumped["privileged"] is True
    assert [item["resource"] for item in dumped["plan"]] == ["/list/index.php", "/patch"]
    assert dumped["plan"][0]["steps"]["POST"][1] == {
        "duration": 15,
        "status": 404,
        "mime_type": "text/plain",
        "payload": "not found",
    }


def test_wrong_keys_are_refused_by_name() -> None:
    doc = yaml.safe_load(KRKN_SAMPLE)
    doc["service_nmae"] = doc.pop("service_name")
    doc["plan"][1]["steps"]["PATCH"][0]["mime"] = "text/plain"
    with pytest.raises(ConfigError) as caught:
        load_configs(TYPE, doc, source="hijack.yaml")
    message = str(caught.value)
    assert "unknown key 'service_nmae'" in message
    assert "missing key 'service_name'" in message
    assert "unknown key 'plan.1.steps.PATCH.0.mime'" in message


def test_run_hijacks_with_exact_objects_then_restores(kube: Any, web: None, tmp_path: Path) -> None:
    before = support.state(kube, KINDS, namespace=kube.namespace)
    seen: dict[str, Any] = {}

    def log(line: str) -> None:
        if "holding for" in line:  # every change is in place: look at them
            seen.update(support.state(kube, KINDS, namespace=kube.namespace))

    ctx = support.context(kube, tmp_path / "rb", TYPE, log=log)
    summary = run_scenario(TYPE, document(kube.namespace, duration=1), ctx)

    assert len(summary.to_dict()["records"]) == 3
    hijacked = seen["Service web"]["spec"]["selector"]
    assert list(hijacked) == [HIJACK_LABEL]
    nonce = hijacked[HIJACK_LABEL]
    responder = seen[f"Pod krkn-hijack-{nonce}"]
    plan_maps = [key for key in seen if key.startswith("ConfigMap krkn-hijack-plan-")]
    assert len(plan_maps) == 1
    plan_map = seen[plan_maps[0]]
    labels = plan_map["metadata"]["labels"]
    assert set(labels) == {MANAGED_BY_LABEL, RUN_LABEL, NONCE_LABEL}
    assert labels[RUN_LABEL] == ctx.journal.run_uuid
    assert yaml.safe_load(plan_map["data"]["plan.yaml"]) == yaml.safe_load(KRKN_SAMPLE)["plan"]
    assert responder["metadata"]["labels"] == {
        MANAGED_BY_LABEL: "krkn-airflow-provider",
        RUN_LABEL: ctx.journal.run_uuid,
        NONCE_LABEL: nonce,
        HIJACK_LABEL: nonce,
    }
    (container,) = responder["spec"]["containers"]
    assert container["image"] == "quay.io/krkn-chaos/krkn-service-hijacking:v0.1.3"
    assert container["ports"] == [{"name": "http-web-svc", "containerPort": 8888, "protocol": "TCP"}]
    assert container["securityContext"] == {"privileged": True}
    assert container["env"] == [
        {"name": "TEST_PLAN", "value": "/etc/krkn-hijack/plan.yaml"},
        {"name": "LISTEN_PORT", "value": "8888"},
    ]
    # automount off: the ServiceAccount admission adds no token volume or mount (golden 028)
    assert responder["spec"]["automountServiceAccountToken"] is False
    assert container["volumeMounts"] == [{"name": "plan", "mountPath": "/etc/krkn-hijack", "readOnly": True}]
    assert responder["spec"]["volumes"] == [
        {"name": "plan", "configMap": {"name": plan_map["metadata"]["name"], "defaultMode": 0o644}}
    ]

    support.wait_for(
        lambda: support.state(kube, KINDS, namespace=kube.namespace) == before, what="state before"
    )


def test_each_undo_runs_twice_and_by_hand(kube: Any, web: None, tmp_path: Path) -> None:
    before = support.state(kube, KINDS, namespace=kube.namespace)
    ctx = support.inject_only(kube, tmp_path / "rb", TYPE, document(kube.namespace))
    assert support.state(kube, KINDS, namespace=kube.namespace) != before
    outcomes = support.undo_twice(ctx, kube)
    assert outcomes == ["undone", "undone", "undone"]
    support.wait_for(
        lambda: support.state(kube, KINDS, namespace=kube.namespace) == before, what="state before"
    )


def test_sigkill_after_the_selector_patch_then_rollback(kube: Any, web: None, tmp_path: Path) -> None:
    before = support.state(kube, KINDS, namespace=kube.namespace)

    def hijacked() -> bool:
        service = support.get(kube, "v1", "Service", "web")
        return HIJACK_LABEL in ((service or {}).get("spec") or {}).get("selector", {})

    done = support.sigkill_then_rollback(kube, tmp_path / "rb", TYPE, document(kube.namespace, 120), hijacked)
    assert "replay of 3 record(s)" in done.stdout and ": 3 undone" in done.stdout, done.stdout
    support.wait_for(
        lambda: support.state(kube, KINDS, namespace=kube.namespace) == before, what="state before"
    )


def test_exact_requests_in_order(kube: Any, web: None, tmp_path: Path) -> None:
    emulator = kube.require_emulator("asserts the request log")
    emulator.clear_requests()
    ctx = support.context(kube, tmp_path / "rb", TYPE)
    run_scenario(TYPE, document(kube.namespace), ctx)
    ns = f"/api/v1/namespaces/{kube.namespace}"
    writes = [(r.method, r.path, r.verb) for r in emulator.writes(ns)]
    pod = next(r for r in emulator.writes(f"{ns}/pods") if r.method == "POST").body
    nonce = pod["metadata"]["labels"][HIJACK_LABEL]
    plan_map = next(r for r in emulator.writes(f"{ns}/configmaps") if r.method == "POST").body["metadata"][
        "name"
    ]
    assert writes == [
        ("POST", f"{ns}/configmaps", "create"),
        ("POST", f"{ns}/pods", "create"),
        ("PATCH", f"{ns}/services/web", "patch"),
        # cleanup, newest record first
        ("PATCH", f"{ns}/services/web", "patch"),
        ("DELETE", f"{ns}/pods", "deletecollection"),
        ("DELETE", f"{ns}/configmaps", "deletecollection"),
    ]
    hijack, restore = [r for r in emulator.writes(f"{ns}/services/web")]
    assert hijack.content_type == restore.content_type == "application/merge-patch+json"
    assert hijack.body["spec"] == {"selector": {"app": None, "tier": None, HIJACK_LABEL: nonce}}
    # The hijack marks the Service with the run (for a sweeper); the restore removes the mark.
    (mark,) = hijack.body["metadata"]["annotations"]
    assert mark.startswith("krkn.io/patch-")
    assert json.loads(hijack.body["metadata"]["annotations"][mark])["undo"] == {
        "spec": {"selector": {"app": "web", "tier": "front", HIJACK_LABEL: None}}
    }
    assert restore.body["spec"] == {"selector": {"app": "web", "tier": "front", HIJACK_LABEL: None}}
    assert restore.body["metadata"]["annotations"] == {mark: None}, restore.body
    pod_delete, map_delete = [r for r in emulator.writes(ns) if r.method == "DELETE"]
    assert pod_delete.query["fieldSelector"] == f"metadata.name=krkn-hijack-{nonce}"
    assert map_delete.query["fieldSelector"] == f"metadata.name={plan_map}"
    assert f"{NONCE_LABEL}={nonce}" in pod_delete.query["labelSelector"]
