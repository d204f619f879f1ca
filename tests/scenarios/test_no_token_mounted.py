"""No pod the provider creates gets a service-account token: none of them calls the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.scenarios import run_scenario
from tests.scenarios import catalogue_support as support
from tests.scenarios.test_catalogue_dry_run import cluster, documents

__all__ = ["cluster"]  # the fixture, shared with the dry-run catalogue

CREATING = [
    "hog_scenarios",
    "service_hijacking_scenarios",
    "network_chaos_ng_scenarios",
    "time_scenarios",
    "syn_flood_scenarios",
]


def pod_specs(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod spec of a Pod, or the pod template's spec of a Job."""
    if body.get("kind") == "Job":
        return [body["spec"]["template"]["spec"]]
    return [body["spec"]]


@pytest.mark.emulator_only
@pytest.mark.parametrize("type_name", CREATING)
def test_every_created_pod_and_job_has_no_token(
    kube: Any, cluster: str, tmp_path: Path, type_name: str
) -> None:
    """Reads the request log: every Pod and Job create the run sent, and the undo Jobs it recorded."""
    document, _ = documents(kube.namespace, cluster)[type_name]
    ctx = support.context(kube, tmp_path / "rb", type_name)
    kube.emulator.clear_requests()
    run_scenario(type_name, document, ctx)
    created = [
        r.body
        for r in kube.emulator.writes()
        if r.verb == "create" and isinstance(r.body, dict) and r.body.get("kind") in ("Pod", "Job")
    ]
    records = [ctx.journal.store.load(entry).data for entry in ctx.journal.store.entries()]
    recorded = [r["manifest"] for r in records if r["action"] == "create" and r["kind"] in ("Pod", "Job")]
    specs = [spec for body in created + recorded for spec in pod_specs(body)]
    assert created, "the scenario created no pod"
    assert [spec.get("automountServiceAccountToken") for spec in specs] == [False] * len(specs)
