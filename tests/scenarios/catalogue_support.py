"""Shared steps of the scenario catalogue's tests: a context, object state, by-hand undo, SIGKILL.

Everything here works on the emulator and, unchanged, on a real cluster
(``KRKN_TEST_KUBECONFIG``): objects are read back through the API, never from the
emulator's memory.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from krkn_airflow_provider.rollback import Journal, Origin, Store, new_run_uuid
from krkn_airflow_provider.rollback.undo import apply_undo
from krkn_airflow_provider.scenarios import ScenarioContext, load_configs, scenario_class

CLI = str(Path(sys.executable).parent / "krkn-rollback")
VOLATILE = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink")


def context(
    kube: Any, root: Path, scenario: str, *, log: Callable[[str], None] | None = None
) -> ScenarioContext:
    journal = Journal(Store(str(root)), Origin(run_uuid=new_run_uuid(), scenario=scenario, task_id="chaos"))
    ctx = ScenarioContext(client=kube.dynamic(), journal=journal, poll_interval=0.05)
    if log is not None:
        ctx.log = log
    return ctx


def stable(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without status and what the server sets (uid, resourceVersion, cluster IPs...)."""
    obj = copy.deepcopy(obj)
    obj.pop("status", None)
    metadata = obj.get("metadata") or {}
    for key in VOLATILE:
        metadata.pop(key, None)
    if obj.get("kind") == "Service":
        for key in ("clusterIP", "clusterIPs"):
            (obj.get("spec") or {}).pop(key, None)
    return obj


def state(
    kube: Any,
    kinds: Iterable[tuple[str, str]],
    *,
    namespace: str | None = None,
    names: set[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every object of ``kinds`` in ``namespace`` (cluster-wide kinds: ``names`` only)."""
    client = kube.dynamic()
    found: dict[str, dict[str, Any]] = {}
    for api_version, kind in kinds:
        resource = client.resources.get(api_version=api_version, kind=kind)
        listing = client.get(resource, namespace=namespace if resource.namespaced else None).to_dict()
        for item in listing.get("items") or []:
            name = item["metadata"]["name"]
            if names is not None and name not in names:
                continue
            found[f"{kind} {name}"] = stable({**item, "apiVersion": api_version, "kind": kind})
    return found


def wait_for(check: Callable[[], bool], *, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout:g} s")
        time.sleep(0.05)


def inject_only(kube: Any, root: Path, type_name: str, document: Any) -> ScenarioContext:
    """Plan and inject every entry, with no hold and no cleanup: the records stay pending."""
    ctx = context(kube, root, type_name)
    cls = scenario_class(type_name)
    for config in load_configs(type_name, document):
        scenario = cls(config, ctx)
        scenario.inject(scenario.plan())
    return ctx


def undo_twice(
    ctx: ScenarioContext, kube: Any, *, by_hand: int = 1, second: str = "already_clean"
) -> list[str]:
    """Apply every record of ``ctx`` newest first, twice each; returns the first outcomes.

    The first ``by_hand`` version files are run by hand (``python <file> --kubeconfig K``),
    the others through the provider's undo code; every second run must give ``second``
    (an ``exec`` undo cannot tell "already done", so it is ``undone`` again, harmlessly).
    """
    store = ctx.journal.store
    outcomes = []
    for index, entry in enumerate(reversed(ctx.journal.recorded)):
        if index < by_hand:
            done = subprocess.run(
                [sys.executable, store.path(entry), "--kubeconfig", str(kube.kubeconfig)],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            outcomes.append(done.stdout.strip().split(":", 1)[0])
        else:
            outcomes.append(apply_undo(ctx.client, store.load(entry).data))
        again = apply_undo(ctx.client, store.load(entry).data)
        assert again == second, f"{entry.id}: second undo gave {again}"
    return outcomes


RUNNER = textwrap.dedent(
    """
    import json, sys
    from krkn_airflow_provider.cli import dynamic_client
    from krkn_airflow_provider.rollback import Journal, Origin, Store
    from krkn_airflow_provider.scenarios import ScenarioContext, run_scenario

    kubeconfig, root, run_uuid, type_name, document = sys.argv[1:6]
    journal = Journal(Store(root), Origin(run_uuid=run_uuid, scenario=type_name, task_id="chaos"))
    ctx = ScenarioContext(
        client=dynamic_client(kubeconfig, None),
        journal=journal,
        log=lambda line: print(line, flush=True),
        poll_interval=0.05,
    )
    run_scenario(type_name, json.loads(document), ctx)
    """
)


def sigkill_then_rollback(
    kube: Any, root: Path, type_name: str, document: Any, changed: Callable[[], bool]
) -> subprocess.CompletedProcess[str]:
    """Run the scenario in a process, SIGKILL it as soon as ``changed()``, then roll back.

    The rollback is ``krkn-rollback execute --run-uuid U``, as a person would run it.
    """
    run_uuid = new_run_uuid()
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            RUNNER,
            str(kube.kubeconfig),
            str(root),
            run_uuid,
            type_name,
            json.dumps(document),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not changed():
            if process.poll() is not None:
                raise AssertionError(f"the scenario ended before the change: {process.stdout.read()}")  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the change was never made"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait(10)
    assert process.returncode == -signal.SIGKILL
    env = {**os.environ, "KRKN_ROLLBACK_LOCATION": str(root)}
    done = subprocess.run(
        [CLI, "execute", "--run-uuid", run_uuid, "--kubeconfig", str(kube.kubeconfig)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


# A container that runs on a real cluster too and exits cleanly on SIGTERM (PID 1 ignores
# signals it has no handler for), so a container scenario's `kill 1` restarts it.
IMAGE = "busybox:1.36"
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]


def pod_manifest(name: str, labels: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "main", "image": IMAGE, "command": SLEEPER}],
            **spec,
        },
    }


def replica_set(name: str, labels: dict[str, str], replicas: int = 1, **spec: Any) -> dict[str, Any]:
    template = pod_manifest(name, labels, **spec)
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": template["spec"]},
        },
    }


def deployment(name: str, labels: dict[str, str], replicas: int = 1) -> dict[str, Any]:
    body = replica_set(name, labels, replicas)
    return {**body, "kind": "Deployment"}


def service(name: str, selector: dict[str, str], target_port: int | str = "http") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": selector, "ports": [{"name": "web", "port": 80, "targetPort": target_port}]},
    }


def create(kube: Any, *bodies: dict[str, Any]) -> None:
    client = kube.dynamic()
    for body in bodies:
        resource = client.resources.get(api_version=body["apiVersion"], kind=body["kind"])
        client.create(resource, body=body, namespace=kube.namespace if resource.namespaced else None)


def get(kube: Any, api_version: str, kind: str, name: str, namespaced: bool = True) -> dict[str, Any] | None:
    client = kube.dynamic()
    resource = client.resources.get(api_version=api_version, kind=kind)
    try:
        return dict(
            client.get(resource, name=name, namespace=kube.namespace if namespaced else None).to_dict()
        )
    except Exception as error:
        if getattr(error, "status", None) == 404:
            return None
        raise


def ready_pods(kube: Any, selector: str) -> list[dict[str, Any]]:
    from krkn_airflow_provider.scenarios.kube import pod_ready

    client = kube.dynamic()
    resource = client.resources.get(api_version="v1", kind="Pod")
    pods = client.get(resource, namespace=kube.namespace, label_selector=selector).to_dict()["items"]
    return [pod for pod in pods if pod_ready(pod)]


def records(ctx: ScenarioContext) -> list[dict[str, Any]]:
    """Every record of the run, oldest first, pending or executed."""
    store = ctx.journal.store
    return [store.load(entry).data for entry in store.entries(run_uuid=ctx.journal.run_uuid)]
