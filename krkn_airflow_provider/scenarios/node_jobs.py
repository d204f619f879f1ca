"""Privileged helper pods pinned to a node, and the cleanup Jobs that undo what they did.

A scenario that changes a node from inside (iptables, tc, the clock) writes, before it
creates its helper pod, a ``create`` record of a short-lived cleanup Job pinned to the
same node that runs the exact reverse commands. If the helper pod dies before it could
undo its own change, replaying that record still puts the node back. The Job carries
``journal.object_labels()`` (its record's guard), a TTL, a deadline and tolerates every
taint; once it succeeded, the scenario deletes it (``finish``).
"""

from __future__ import annotations

from typing import Any

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.rollback import UndoRecord
from krkn_airflow_provider.rollback.records import NONCE_LABEL
from krkn_airflow_provider.scenarios import kube, steps
from krkn_airflow_provider.scenarios.base import ScenarioContext

UNDO_LABEL = "krkn.io/undo-job"
JOB_TTL_SECONDS = 60
JOB_DEADLINE_SECONDS = 300
JOB_TIMEOUT = 300.0


def pod_spec(
    node: str, image: str, script: str, *, host_network: bool, host_pid: bool, service_account: str = ""
) -> dict[str, Any]:
    """A privileged single-container pod spec pinned to ``node`` running ``/bin/sh -c script``."""
    spec: dict[str, Any] = {
        "nodeName": node,
        "hostNetwork": host_network,
        "hostPID": host_pid,
        "restartPolicy": "Never",
        # The scripts only touch the node (iptables, tc, date): no API token in the pod.
        "automountServiceAccountToken": False,
        "containers": [
            {
                "name": "krkn",
                "image": image,
                "command": ["/bin/sh", "-c", script],
                "securityContext": {"privileged": True},
            }
        ],
    }
    if service_account:
        spec["serviceAccountName"] = service_account
    return spec


def undo_job(name: str, namespace: str, labels: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    """The cleanup Job manifest: ``spec`` (from ``pod_spec``) run once, tolerating every taint."""
    spec = {**spec, "tolerations": [{"operator": "Exists"}]}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "ttlSecondsAfterFinished": JOB_TTL_SECONDS,
            "activeDeadlineSeconds": JOB_DEADLINE_SECONDS,
            "backoffLimit": 3,
            "template": {"metadata": {"labels": {UNDO_LABEL: labels[NONCE_LABEL]}}, "spec": spec},
        },
    }


def record_undo_job(ctx: ScenarioContext, job: dict[str, Any], description: str) -> None:
    """Write the ``create`` record of ``job`` (guarded by its labels); nothing is created now."""
    ctx.check_stop()
    guard = dict(job["metadata"]["labels"])
    ctx.journal.record(
        UndoRecord(action="create", **steps.address(job), manifest=job, guard=guard, description=description)
    )


def _state(ctx: ScenarioContext, namespace: str, name: str) -> str:
    job = kube.get(ctx.client, "batch/v1", "Job", name, namespace)
    if job is None:
        return "gone"
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return str(condition["type"])
    return "running"


def finish(ctx: ScenarioContext, namespace: str, jobs: list[tuple[str, dict[str, str]]], what: str) -> None:
    """Wait until every cleanup Job succeeded, then delete them and their pods.

    :param jobs: ``(name, labels)`` of each Job; a failed one raises, naming ``what``.
    """
    if not jobs:
        return

    def done() -> bool:
        states = {name: _state(ctx, namespace, name) for name, _ in jobs}
        failed = [name for name, state in states.items() if state == "Failed"]
        if failed:
            raise ScenarioError(
                f"cleanup Job(s) {', '.join(failed)} failed: {what} may remain; see their logs"
            )
        return all(state in ("Complete", "gone") for state in states.values())

    ctx.poll(done, timeout=JOB_TIMEOUT, what=f"{len(jobs)} cleanup Job(s) to complete")
    resource = ctx.resource("batch/v1", "Job")
    for name, labels in jobs:  # done: remove them now rather than at their TTL
        try:
            ctx.client.delete(
                resource,
                namespace=namespace,
                label_selector=kube.selector_string(labels),
                field_selector=f"metadata.name={name}",
                propagation_policy="Background",
                _request_timeout=kube.REQUEST_TIMEOUT,
            )
        except Exception as error:
            if kube.status_of(error) != 404:
                raise kube.api_error(
                    "deletecollection", "batch/v1", "Job", f"{namespace}/{name}", error
                ) from error
    job_pods = f"{UNDO_LABEL} in ({','.join(labels[NONCE_LABEL] for _, labels in jobs)})"
    ctx.poll(
        lambda: (
            all(_state(ctx, namespace, name) == "gone" for name, _ in jobs)
            and not kube.items(ctx.client, "v1", "Pod", namespace=namespace, label_selector=job_pods)
        ),
        timeout=JOB_TIMEOUT,
        what="cleanup Jobs and their pods to be gone",
    )


def wait_running(ctx: ScenarioContext, namespace: str, name: str, timeout: float) -> None:
    """Wait until a helper pod runs; raise when it failed or vanished."""

    def running() -> bool:
        pod = kube.get(ctx.client, "v1", "Pod", name, namespace)
        phase = None if pod is None else (pod.get("status") or {}).get("phase")
        if phase in (None, "Failed"):
            raise ScenarioError(f"helper pod {namespace}/{name} failed or vanished")
        return phase in ("Running", "Succeeded")

    ctx.poll(running, timeout=timeout, what=f"helper pod {namespace}/{name} to run")
