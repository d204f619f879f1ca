"""deploy/rbac.yaml allows every request the shipped scenario types, undo and sweep send.

Each type runs for real on the emulator (plan, inject, hold, cleanup replay, recovery), then
the sweeper lists and removes a leftover; every (verb, group, resource) in the request log
sent meanwhile must be allowed by the ClusterRole. A new request in a scenario fails here
until the manifest says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from krkn_airflow_provider.rollback import Store
from krkn_airflow_provider.rollback.sweep import find_leftovers, remove_leftover
from krkn_airflow_provider.scenarios import known_types, run_scenario, scenario_class
from tests.scenarios import catalogue_support as support
from tests.scenarios.test_catalogue_dry_run import cluster, documents  # noqa: F401  (fixture)

pytestmark = pytest.mark.emulator_only("reads the emulator's request log")

RBAC = Path(__file__).resolve().parents[2] / "deploy" / "rbac.yaml"


def allowed(kind: str = "ClusterRole") -> set[tuple[str, str, str]]:
    rules = set()
    for document in yaml.safe_load_all(RBAC.read_text()):
        if document and document["kind"] == kind:
            for rule in document["rules"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        rules.update((verb, group, resource) for verb in rule["verbs"])
    return rules


def rule_of(verb: str, path: str) -> tuple[str, str, str] | None:
    """(verb, apiGroup, resource[/subresource]) of one request; None for discovery."""
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) > 2:
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) > 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    if rest[0] == "namespaces" and len(rest) > 2:
        rest = rest[2:]  # namespaced: namespaces/<ns>/<resource>[/<name>[/<sub>]]
    resource = rest[0] + (f"/{rest[2]}" if len(rest) > 2 else "")
    return (verb, group, resource)


def core_documents(ns: str) -> dict[str, Any]:
    return {
        "pod_disruption_scenarios": [
            {
                "id": "kill-pods",
                "config": {"namespace_pattern": f"^{ns}$", "name_pattern": "^web-0$", "kill": 1},
            }
        ],
        "application_outages_scenarios": {
            "application_outage": {"duration": 0, "namespace": ns, "pod_selector": {"app": "web"}}
        },
        "hog_scenarios": {"hog-type": "cpu", "duration": 0, "namespace": ns, "number-of-nodes": 1},
    }


def test_every_request_of_every_type_is_allowed(kube: Any, cluster: str, tmp_path: Path) -> None:  # noqa: F811
    emulator = kube.emulator
    docs = {name: doc for name, (doc, _) in documents(kube.namespace, cluster).items()}
    docs.update(core_documents(kube.namespace))
    shipped = [t for t in known_types() if scenario_class(t).__module__.startswith("krkn_airflow_provider.")]
    assert sorted(docs) == shipped  # (test DAGs register failing types of their own)
    # A Deployment for service disruption to delete and re-create.
    support.create(kube, support.deployment("api", {"app": "api"}))
    rules = allowed()
    seen: dict[tuple[str, str, str], str] = {}
    for type_name, document in sorted(docs.items()):
        ctx = support.context(kube, tmp_path / "rb", type_name)
        emulator.clear_requests()
        run_scenario(type_name, document, ctx)
        # A leftover of this run (as after a crash), made by the test, then swept.
        harness = len(emulator.requests)
        name = f"left-{type_name.replace('_', '-')}"
        labels = ctx.journal.object_labels()
        support.create(
            kube, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}}
        )
        mark = len(emulator.requests)
        leftovers = find_leftovers(Store(str(tmp_path / "rb")), ctx.client, run_uuid=ctx.journal.run_uuid)
        assert [remove_leftover(ctx.client, leftover) for leftover in leftovers] == ["undone"]
        requests = emulator.requests
        provider = requests[:harness] + requests[mark:]
        for request in provider:
            rule = rule_of(request.verb, request.path)
            if rule is not None:
                seen.setdefault(rule, f"{type_name}: {request.method} {request.path}")
    missing = {rule: example for rule, example in seen.items() if rule not in rules}
    assert missing == {}, "requests not allowed by deploy/rbac.yaml:\n" + "\n".join(
        f"  {rule}: e.g. {example}" for rule, example in sorted(missing.items())
    )
    unused = sorted(rule for rule in rules if rule not in seen)
    print("rules never exercised on the emulator:", unused)


def test_namespaced_role_is_a_subset_of_the_cluster_role() -> None:
    assert allowed("Role") <= allowed("ClusterRole")
