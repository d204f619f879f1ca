"""Changes scenarios make, each with its undo record written first.

Every helper goes through ``ctx.change(undo, what, apply)``: the record is durable before
the request is sent, and on a dry run nothing is sent. Objects created here must carry
``journal.object_labels()``; their ``delete`` record is guarded by exactly those labels.
"""

from __future__ import annotations

from typing import Any

from krkn_airflow_provider.errors import ScenarioError
from krkn_airflow_provider.rollback import UndoRecord, clean_manifest, marks, reverse_merge_patch
from krkn_airflow_provider.rollback.records import MANAGED_BY_LABEL, NONCE_LABEL, RUN_LABEL
from krkn_airflow_provider.rollback.undo import UndoFailed, exec_stream
from krkn_airflow_provider.scenarios import kube
from krkn_airflow_provider.scenarios.base import ScenarioContext
from krkn_airflow_provider.scenarios.sensitive import secret_fields

MERGE_PATCH = "application/merge-patch+json"
EXEC_TIMEOUT = 60
# What ``journal.object_labels()`` sets: exactly these make a created object's record guard.
OBJECT_LABELS = (MANAGED_BY_LABEL, RUN_LABEL, NONCE_LABEL)


def where(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def create_object(ctx: ScenarioContext, body: dict[str, Any], what: str = "") -> None:
    """Create ``body`` after recording its guarded ``delete``.

    :param body: a full manifest whose ``metadata.labels`` hold ``journal.object_labels()``;
        those labels (and only those) are the record's guard.
    """
    api_version, kind = body["apiVersion"], body["kind"]
    metadata = body["metadata"]
    name, namespace = metadata["name"], metadata.get("namespace")
    labels = metadata.get("labels") or {}
    missing = [key for key in OBJECT_LABELS if key not in labels]
    if missing:
        raise ScenarioError(f"{kind} {where(namespace, name)} lacks the labels {', '.join(missing)}")
    guard = {key: labels[key] for key in OBJECT_LABELS}
    undo = UndoRecord(
        action="delete", api_version=api_version, kind=kind, namespace=namespace, name=name, guard=guard
    )
    resource = ctx.resource(api_version, kind)

    def create() -> None:
        try:
            ctx.client.create(resource, body=body, namespace=namespace, _request_timeout=kube.REQUEST_TIMEOUT)
        except Exception as error:
            raise kube.api_error("create", api_version, kind, where(namespace, name), error) from error

    ctx.change(undo, what or f"create {kind} {where(namespace, name)}", create)


def patch_object(
    ctx: ScenarioContext,
    obj: dict[str, Any],
    change: dict[str, Any],
    what: str = "",
) -> None:
    """Merge-patch ``obj`` with ``change`` after recording the reverse patch.

    The record holds the reverse merge patch (the old values, ``None`` for added keys) and
    ``change`` as what must still be in place for the undo to apply. Lists in ``change``
    replace the whole list, so the reverse restores the whole old list. The patch also sets
    a mark annotation naming the run (rollback/marks.py), which the undo removes.
    """
    api_version, kind = obj["apiVersion"], obj["kind"]
    metadata = obj["metadata"]
    name, namespace = metadata["name"], metadata.get("namespace")
    reverse = reverse_merge_patch(obj, change)
    key, value = marks.mark(
        ctx.journal.object_labels()[NONCE_LABEL],
        run_uuid=ctx.journal.run_uuid,
        scenario=ctx.journal.origin.scenario,
        undo=reverse,
        expect=change,
    )
    change = {**change, "metadata": {"annotations": {key: value}}}
    undo = UndoRecord(
        action="patch",
        api_version=api_version,
        kind=kind,
        namespace=namespace,
        name=name,
        # Only our mark goes: other annotations, added since by anyone, stay.
        patch={**reverse, "metadata": {"annotations": {key: None}}},
        expect=change,
    )
    resource = ctx.resource(api_version, kind)

    def patch() -> None:
        try:
            ctx.client.patch(
                resource,
                body=change,
                name=name,
                namespace=namespace,
                content_type=MERGE_PATCH,
                _request_timeout=kube.REQUEST_TIMEOUT,
            )
        except Exception as error:
            raise kube.api_error("patch", api_version, kind, where(namespace, name), error) from error

    ctx.change(undo, what or f"patch {kind} {where(namespace, name)}", patch)


class SecretValuesRefused(ScenarioError):
    """Deleting the object would write literal credentials into the journal."""


def refuse_secret_values(ctx: ScenarioContext, objects: list[dict[str, Any]]) -> None:
    """Refuse, before any change, to delete objects whose recorded manifest holds credentials.

    Called in ``plan`` (or before the first change) with every object whose manifest a
    ``create`` record will hold. The message names the fields, never their values.
    """
    if ctx.allow_secret_values:
        return
    problems = []
    for obj in objects:
        fields = secret_fields(obj)
        if fields:
            metadata = obj["metadata"]
            where = (
                f"{metadata.get('namespace')}/{metadata['name']}"
                if metadata.get("namespace")
                else metadata["name"]
            )
            problems.append(f"{obj.get('kind')} {where}: {', '.join(fields)}")
    if problems:
        raise SecretValuesRefused(
            "deleting would record these manifests, with values that look like credentials, in the "
            f"journal: {'; '.join(problems)}. Move the values into a Secret (env valueFrom), choose "
            "other targets, or set record_secret_values=True to record them (docs/safety.md)"
        )


def address(obj: dict[str, Any]) -> dict[str, Any]:
    """The ``api_version``, ``kind``, ``namespace`` and ``name`` of a record about ``obj``."""
    metadata = obj["metadata"]
    return {
        "api_version": obj["apiVersion"],
        "kind": obj["kind"],
        "namespace": metadata.get("namespace"),
        "name": metadata["name"],
    }


def recreate_record(obj: dict[str, Any], api_version: str = "", kind: str = "") -> UndoRecord:
    """A ``create`` record holding the cleaned manifest of ``obj`` (before deleting it).

    :param api_version: and ``kind``: for an object read from a list (items lack them).
    """
    metadata = obj["metadata"]
    return UndoRecord(
        action="create",
        api_version=api_version or obj["apiVersion"],
        kind=kind or obj["kind"],
        namespace=metadata.get("namespace"),
        name=metadata["name"],
        manifest=clean_manifest(obj),
    )


def exec_record(
    pod: dict[str, Any], container: str, script: str, *, timeout: int = EXEC_TIMEOUT
) -> UndoRecord:
    """An ``exec`` record that runs ``script`` (``/bin/sh -c``) in ``container`` of ``pod``."""
    metadata = pod["metadata"]
    return UndoRecord(
        action="exec",
        api_version="v1",
        kind="Pod",
        namespace=metadata["namespace"],
        name=metadata["name"],
        container=container,
        command=["/bin/sh", "-c", script],
        timeout_seconds=timeout,
    )


def delete_object(
    ctx: ScenarioContext,
    obj: dict[str, Any],
    *,
    undo: UndoRecord | None,
    what: str = "",
    grace_period_seconds: int | None = None,
) -> None:
    """Delete ``obj`` (background propagation) after recording ``undo``; 404 is fine."""
    api_version, kind = obj["apiVersion"], obj["kind"]
    metadata = obj["metadata"]
    name, namespace = metadata["name"], metadata.get("namespace")
    resource = ctx.resource(api_version, kind)

    def delete() -> None:
        try:
            ctx.client.delete(
                resource,
                name=name,
                namespace=namespace,
                propagation_policy="Background",
                grace_period_seconds=grace_period_seconds,
                _request_timeout=kube.REQUEST_TIMEOUT,
            )
        except Exception as error:
            if kube.status_of(error) != 404:
                raise kube.api_error("delete", api_version, kind, where(namespace, name), error) from error

    ctx.change(undo, what or f"delete {kind} {where(namespace, name)}", delete)


def gone(ctx: ScenarioContext, obj: dict[str, Any]) -> bool:
    """True once ``obj`` (this uid) no longer exists, so its name can be created again."""
    metadata = obj["metadata"]
    current = kube.get(
        ctx.client, obj["apiVersion"], obj["kind"], metadata["name"], metadata.get("namespace")
    )
    return current is None or (current.get("metadata") or {}).get("uid") != metadata.get("uid")


def typed(obj: dict[str, Any], api_version: str, kind: str) -> dict[str, Any]:
    """``obj`` with ``apiVersion`` and ``kind`` set (list items may lack them)."""
    return {**obj, "apiVersion": obj.get("apiVersion") or api_version, "kind": obj.get("kind") or kind}


def exec_in(
    ctx: ScenarioContext,
    pod: dict[str, Any],
    container: str,
    command: list[str],
    *,
    timeout: int = EXEC_TIMEOUT,
) -> tuple[int | None, str, str]:
    """Run ``command`` in a container through ``pods/exec``; returns (exit code, stdout, stderr)."""
    from kubernetes import client as k8s

    metadata = pod["metadata"]
    core = k8s.CoreV1Api(ctx.client.client)
    try:
        return exec_stream(core, metadata["name"], metadata["namespace"], container, command, timeout=timeout)
    except UndoFailed as error:
        raise ScenarioError(str(error)) from None
    except Exception as error:
        where = f"{metadata['namespace']}/{metadata['name']} container {container}"
        raise kube.api_error("create", "v1", "Pod", where, error, subresource="exec") from error
