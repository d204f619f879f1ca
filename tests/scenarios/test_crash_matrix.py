"""Crash matrix: every mutating type, killed (SIGKILL) at every change point, then rolled back.

For each type, a dry run in this process counts its changes (``ctx.change`` calls). Then, for
each change N and each point — right after N's record is durable (before the change is
sent), and right after the change was made — a child process runs the scenario and SIGKILLs
itself there. ``krkn-rollback execute --run-uuid U`` then replays what it left. Afterwards
no provider-made object remains (except the node cleanup/reset Jobs an undo itself creates,
which carry ``krkn.io/undo-job`` and expire), and every object in the namespace, and the
node, has its spec from before.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider import cli
from krkn_airflow_provider.rollback import Journal, Store, new_run_uuid
from krkn_airflow_provider.rollback.records import MANAGED_BY_LABEL
from krkn_airflow_provider.scenarios import run_scenario
from krkn_airflow_provider.scenarios.node_jobs import UNDO_LABEL
from tests.scenarios import catalogue_support as support
from tests.scenarios.test_catalogue_dry_run import cluster, documents  # noqa: F401  (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.emulator_only("kills a child at exact change points")]

# container_scenarios only runs a command (the kubelet restarts the container): nothing to undo.
MUTATING = (
    "pod_disruption_scenarios",
    "application_outages_scenarios",
    "hog_scenarios",
    "service_hijacking_scenarios",
    "service_disruption_scenarios",
    "node_scenarios",
    "network_chaos_ng_scenarios",
    "time_scenarios",
    "pvc_scenarios",
    "syn_flood_scenarios",
)
POINTS = ("after_record", "after_change")
KINDS = (
    ("v1", "Pod"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("apps/v1", "Deployment"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("batch/v1", "Job"),
)

CRASHING_RUNNER = (
    textwrap.dedent(
        """
    import os, signal
    import sys

    from krkn_airflow_provider.scenarios import base

    point, number = sys.argv[6], int(sys.argv[7])
    original = base.ScenarioContext.change
    calls = [0]


    def die():
        os.kill(os.getpid(), signal.SIGKILL)


    def change(self, undo, what, apply):
        calls[0] += 1
        if calls[0] != number:
            return original(self, undo, what, apply)
        if point == "after_record":
            return original(self, undo, what, die)  # the record is durable; the change never sent
        original(self, undo, what, apply)
        die()


    base.ScenarioContext.change = change
    """
    )
    + support.RUNNER
)


def count_changes(kube: Any, root: Path, type_name: str, document: Any) -> int:
    ctx = support.context(kube, root, type_name)
    ctx.journal = Journal(ctx.journal.store, ctx.journal.origin, dry_run=True)
    calls = [0]
    original = ctx.change

    def counting(undo: Any, what: str, apply: Any) -> Any:
        calls[0] += 1
        return original(undo, what, apply)

    ctx.change = counting  # type: ignore[method-assign]
    run_scenario(type_name, document, ctx)
    return calls[0]


def undo_job(obj: dict[str, Any]) -> bool:
    """A node cleanup/reset Job an undo creates (it expires), or one of its pods."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    template = ((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}
    return UNDO_LABEL in labels or UNDO_LABEL in (template.get("labels") or {})


def snapshot(kube: Any, node: str) -> dict[str, dict[str, Any]]:
    objects = support.state(kube, KINDS, namespace=kube.namespace)
    objects = {key: obj for key, obj in objects.items() if not undo_job(obj)}
    for key, obj in support.state(kube, [("v1", "Node")], names={node}).items():
        obj.get("metadata", {}).get("annotations", {}).clear()
        objects[key] = obj
    return objects


def crash_and_roll_back(kube: Any, root: Path, type_name: str, document: Any, point: str, number: int) -> str:
    run_uuid = new_run_uuid()
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            CRASHING_RUNNER,
            str(kube.kubeconfig),
            str(root),
            run_uuid,
            type_name,
            json.dumps(document),
            point,
            str(number),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    # krkn-rollback execute, in this process (the same code as the command, without the start-up).
    out = io.StringIO()
    code = cli.main(
        ["--location", str(root), "execute", "--run-uuid", run_uuid, "--kubeconfig", str(kube.kubeconfig)],
        out,
    )
    assert code == 0, out.getvalue()
    store = Store(str(root))
    assert [e.state for e in store.entries(run_uuid=run_uuid) if e.state != "executed"] == []
    return run_uuid


MATRIX: list[tuple[str, int]] = []  # (type, changes), filled as the tests run; see the report


@pytest.mark.parametrize("type_name", MUTATING)
def test_crash_at_every_change_point_then_rollback_restores(
    kube: Any,
    cluster: str,  # noqa: F811
    tmp_path: Path,
    type_name: str,
) -> None:
    document = documents(kube.namespace, cluster)[type_name][0]
    changes = count_changes(kube, tmp_path / "count", type_name, document)
    assert changes >= 1
    MATRIX.append((type_name, changes))
    before = snapshot(kube, cluster)
    started = time.monotonic()
    for number in range(1, changes + 1):
        for point in POINTS:
            crash_and_roll_back(kube, tmp_path / "rb", type_name, document, point, number)
            where = f"{type_name}, change {number}/{changes}, {point}"

            def restored() -> bool:
                return snapshot(kube, cluster) == before

            try:
                support.wait_for(restored, timeout=30, what=where)
            except AssertionError:
                after = snapshot(kube, cluster)
                changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
                raise AssertionError(f"{where}: not restored: {changed}") from None
            managed = [
                key
                for key, obj in after_objects(kube).items()
                if MANAGED_BY_LABEL in ((obj.get("metadata") or {}).get("labels") or {}) and not undo_job(obj)
            ]
            assert managed == [], f"{where}: leftovers {managed}"
    print(f"{type_name}: {changes} change(s) x {len(POINTS)} points in {time.monotonic() - started:.1f} s")


def after_objects(kube: Any) -> dict[str, dict[str, Any]]:
    return support.state(kube, KINDS, namespace=kube.namespace)
