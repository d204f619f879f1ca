# Undo code for one rollback record, and the Kubernetes plumbing the scenarios share.
#
# This module is embedded verbatim in every version file, so that a file can be run by
# hand with nothing but Python and the `kubernetes` package installed. Keep it
# self-contained: standard library and `kubernetes` imports only, no package-relative
# imports, no provider names. scenarios/kube.py imports its plumbing from here (object to
# dict, status codes, resource names, RBAC text, selectors, retries, exec streaming), so
# the two sides cannot drift apart.
from __future__ import annotations

import json
import random
import shlex
import time
from typing import Any

UNDONE = "undone"
ALREADY_CLEAN = "already_clean"
DIVERGED = "diverged"
NOT_OURS = "not_ours"
PLANNED = "planned"


class UndoFailed(Exception):
    """The undo could not be applied; the record stays pending."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


# The fields describe() reads: a caller may pass only these (a manifest can be large).
DESCRIBED_FIELDS = ("action", "kind", "namespace", "name", "container", "command")


def describe(record: dict[str, Any]) -> str:
    """One line saying what applying ``record`` does, e.g. ``delete Pod ns/name``."""
    where = f"{record['namespace']}/{record['name']}" if record.get("namespace") else record["name"]
    action = record["action"]
    if action == "exec":
        command = " ".join(shlex.quote(part) for part in record["command"])
        return f"exec in Pod {where} container {record.get('container') or '-'}: {command}"
    return f"{action} {record['kind']} {where}"


def matches(obj: Any, merge_patch: Any) -> bool:
    """True when every field that ``merge_patch`` sets already holds in ``obj``.

    A ``None`` in the patch means "key absent", as in JSON merge patch; lists and
    scalars compare whole.
    """
    if not isinstance(merge_patch, dict):
        return bool(obj == merge_patch)
    if obj is None:
        obj = {}  # an absent map holds no keys: a patch that only removes keys matches it
    if not isinstance(obj, dict):
        return False
    for key, wanted in merge_patch.items():
        if wanted is None:
            if obj.get(key) is not None:
                return False
        elif not matches(obj.get(key), wanted):
            return False
    return True


# Statuses worth another try: throttled, or the server (or a proxy before it) failed.
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


def status_of(error: BaseException) -> int | None:
    """The HTTP status of an API error (``None``: no answer, e.g. a lost connection)."""
    status = getattr(error, "status", None)
    return int(status) if isinstance(status, int) or (isinstance(status, str) and status.isdigit()) else None


def retryable(error: BaseException) -> bool:
    """True for a 429/5xx answer, a timeout or a lost connection: the same request may pass."""
    status = status_of(error)
    if status is not None:
        return status in RETRYABLE_STATUS
    import urllib3

    return isinstance(error, (urllib3.exceptions.HTTPError, OSError, TimeoutError))


def backoff_delay(attempt: int, base_delay: float, max_delay: float = 5.0) -> float:
    """Seconds to wait before try ``attempt + 1``: exponential, capped, with jitter."""
    return float(min(max_delay, base_delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0))


def as_dict(obj: Any) -> dict[str, Any]:
    """A client answer (a ``ResourceInstance`` or a mapping) as a plain dict."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def plural(kind: str) -> str:
    """The resource name of a kind (``NetworkPolicy`` -> ``networkpolicies``)."""
    lower = kind.lower()
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    if lower.endswith("s"):
        return lower + "es"
    return lower + "s"


def selector_string(labels: dict[str, str]) -> str:
    """A label selector matching exactly ``labels`` (``a=1,b=2``, sorted)."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def error_detail(error: BaseException) -> str:
    """``": <the server's message>"`` from an API error's body, or ``""`` without one."""
    body = getattr(error, "body", None)
    if not body:
        return ""
    try:
        return ": " + str(json.loads(body).get("message", ""))
    except (ValueError, AttributeError, TypeError):
        return ": " + str(body)[:200]


def namespace_going(error: Exception) -> bool:
    """True for a 403 ``NamespaceTerminating``: the namespace is being deleted.

    Nothing can be created or evicted there any more; what lived there leaves with it.
    (A namespace that does not exist is another matter: it may be created again, so a
    record for it stays pending.)
    """
    if status_of(error) != 403:
        return False
    try:
        body = json.loads(getattr(error, "body", None) or "{}")
    except (TypeError, ValueError):
        return False
    details = (body.get("details") or {}) if isinstance(body, dict) else {}
    return any(cause.get("reason") == "NamespaceTerminating" for cause in details.get("causes") or [])


def _fail(verb: str, record: dict[str, Any], error: Exception) -> UndoFailed:
    status = status_of(error)
    reason = getattr(error, "reason", None) or type(error).__name__
    hint = ""
    if status in (401, 403):
        resource, group = plural(record["kind"]), record["api_version"].rpartition("/")[0] or '""'
        hint = f" (RBAC: allow verb {verb!r} on {resource} in apiGroup {group} for the rollback identity)"
    message = f"{verb} failed for {describe(record)}: {status or ''} {reason}{error_detail(error)}{hint}"
    return UndoFailed(message.strip(), status)


def _timeout(record: dict[str, Any]) -> float:
    # Every request is bounded, so a hung apiserver is a retryable failure, not a hang.
    return float(record.get("timeout_seconds") or 30)


def _resource(client: Any, record: dict[str, Any]) -> Any:
    # Discovery can fail too: a kind the server no longer serves, or a server not reached.
    try:
        return client.resources.get(api_version=record["api_version"], kind=record["kind"])
    except Exception as error:
        if type(error).__name__ == "ResourceNotFoundError":
            raise UndoFailed(
                f"the server does not serve kind {record['kind']} in {record['api_version']} "
                f"(was its CRD removed?); cannot {describe(record)}"
            ) from error
        raise _fail("discovery", record, error) from error


def _scope(record: dict[str, Any]) -> dict[str, Any]:
    """The namespace and the time bound of every request made for ``record``."""
    return {"namespace": record.get("namespace"), "_request_timeout": _timeout(record)}


def _get(client: Any, resource: Any, record: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return as_dict(client.get(resource, name=record["name"], **_scope(record)))
    except Exception as error:
        if status_of(error) == 404:
            return None
        raise _fail("get", record, error) from error


def _deleted_items(answer: Any) -> list[dict[str, Any]]:
    """The items of a raw delete-collection answer (``serialize=False``), as plain dicts.

    A collection delete answers with every object it removed; decoding that JSON once is
    far cheaper than the client wrapping each object in its own field objects.
    """
    body = json.loads(answer.data) if answer.data else None
    items = body.get("items") if isinstance(body, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def undo_delete(client: Any, record: dict[str, Any], dry_run: bool) -> str:
    resource = _resource(client, record)
    guard = record.get("guard") or {}
    if dry_run:
        return PLANNED
    try:
        if guard:
            # One request that deletes the object only while it still carries the guard
            # labels: the check and the delete cannot be split by someone else's change.
            deleted = client.delete(
                resource,
                label_selector=selector_string(guard),
                field_selector=f"metadata.name={record['name']}",
                serialize=False,
                **_scope(record),
            )
            if _deleted_items(deleted):
                return UNDONE
        else:
            client.delete(resource, name=record["name"], **_scope(record))
            return UNDONE
    except Exception as error:
        if status_of(error) == 404:
            return ALREADY_CLEAN
        raise _fail("deletecollection" if guard else "delete", record, error) from error
    # Nothing carried the guard: either the object is gone, or it is not ours.
    return ALREADY_CLEAN if _get(client, resource, record) is None else NOT_OURS


def undo_delete_batch(client: Any, records: list[dict[str, Any]], *, key: str) -> list[str]:
    """Undo several ``delete`` records of one kind and namespace with one request.

    Their guards must be equal but for the label ``key`` (a per-object nonce): one
    delete-collection selects exactly the objects that still carry their guard. Records
    whose object was not among those deleted are classified one by one.
    """
    first = records[0]
    resource = _resource(client, first)
    common = {name: value for name, value in first["guard"].items() if name != key}
    values = sorted({record["guard"][key] for record in records})
    nonces = f"{key} in ({','.join(values)})"
    selector = f"{selector_string(common)},{nonces}" if common else nonces
    try:
        deleted = client.delete(resource, label_selector=selector, serialize=False, **_scope(first))
    except Exception as error:
        raise _fail("deletecollection", first, error) from error
    gone = {
        (item["metadata"]["name"], (item["metadata"].get("labels") or {}).get(key))
        for item in _deleted_items(deleted)
    }
    return [
        UNDONE if (record["name"], record["guard"][key]) in gone else undo_delete(client, record, False)
        for record in records
    ]


def undo_patch(client: Any, record: dict[str, Any], dry_run: bool) -> str:
    resource = _resource(client, record)
    current = _get(client, resource, record)
    if current is None or matches(current, record["patch"]):
        return ALREADY_CLEAN
    if not matches(current, record["expect"]):
        return DIVERGED
    if dry_run:
        return PLANNED
    body = dict(record["patch"])
    # Conditional on the version we compared, so a change in between is not overwritten.
    body["metadata"] = dict(body.get("metadata") or {})
    body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    try:
        client.patch(
            resource,
            body=body,
            name=record["name"],
            content_type="application/merge-patch+json",
            **_scope(record),
        )
    except Exception as error:
        if status_of(error) == 404:
            return ALREADY_CLEAN
        raise _fail("patch", record, error) from error
    return UNDONE


def undo_create(client: Any, record: dict[str, Any], dry_run: bool) -> str:
    resource = _resource(client, record)
    if dry_run:
        return ALREADY_CLEAN if _get(client, resource, record) is not None else PLANNED
    # An object of that name may still be terminating (the chaos deleted it a moment ago):
    # it counts as present only once it is not being deleted.
    deadline = time.monotonic() + _timeout(record)
    while True:
        try:
            client.create(resource, body=record["manifest"], **_scope(record))
            return UNDONE
        except Exception as error:
            if namespace_going(error):
                return ALREADY_CLEAN  # its namespace is being deleted: nothing to bring back
            if status_of(error) != 409:
                raise _fail("create", record, error) from error
        current = _get(client, resource, record)
        if current is not None and not (current.get("metadata") or {}).get("deletionTimestamp"):
            return ALREADY_CLEAN
        if time.monotonic() > deadline:
            raise UndoFailed(f"create failed for {describe(record)}: the old object is still terminating")
        time.sleep(0.2)


def undo_exec(client: Any, record: dict[str, Any], dry_run: bool) -> str:
    from kubernetes import client as k8s

    core = k8s.CoreV1Api(client.client)
    try:
        core.read_namespaced_pod(record["name"], record["namespace"], _request_timeout=_timeout(record))
    except Exception as error:
        if status_of(error) == 404:
            return ALREADY_CLEAN  # the pod and whatever it held are gone
        raise _fail("exec", record, error) from error
    if dry_run:
        return PLANNED
    try:
        code, _, errors = exec_stream(
            core,
            record["name"],
            record["namespace"],
            record.get("container"),
            record["command"],
            timeout=record.get("timeout_seconds") or 60,
        )
    except UndoFailed:
        raise
    except Exception as error:
        raise _fail("exec", record, error) from error
    if code not in (0, None):
        raise UndoFailed(f"exec failed for {describe(record)}: exit code {code}: {errors.strip()[:300]}")
    return UNDONE


def exec_stream(
    core: Any, name: str, namespace: str, container: str | None, command: list[str], *, timeout: float
) -> tuple[int | None, str, str]:
    """Run ``command`` in a container through ``pods/exec``: (exit code, stdout, stderr).

    :param core: a ``kubernetes.client.CoreV1Api``.
    :param timeout: seconds the session may run; the exit code is ``None`` past it.
    """
    from kubernetes.stream import stream

    session = stream(
        core.connect_get_namespaced_pod_exec,
        name,
        namespace,
        container=container,
        command=command,
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    session.run_forever(timeout=timeout)
    code = exec_exit_code(session, f"Pod {namespace}/{name} container {container or '-'}")
    out, err = session.read_stdout(), session.read_stderr()
    session.close()
    return code, out, err


def exec_exit_code(session: Any, where: str) -> int | None:
    """The exit code of a finished exec session, read from its error channel (3).

    The client's ``returncode`` assumes every failure carries an exit code and raises
    ``ValueError`` on the Status a kubelet that cannot stream sends ("unable to upgrade
    connection"); that Status becomes an ``UndoFailed`` naming ``where`` and the answer.
    ``None``: the command did not finish within the session's timeout.
    """
    if session.is_open():
        return None
    text = session.read_channel(3)
    if not text:
        return None
    try:
        status = json.loads(text)
    except ValueError:
        status = {"message": str(text)}
    if not isinstance(status, dict):
        status = {"message": str(text)}
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode" and str(cause.get("message", "")).lstrip("-").isdigit():
            return int(cause["message"])
    answer = str(status.get("message") or text)[:300]
    raise UndoFailed(f"exec in {where} failed: the kubelet answered: {answer}", status.get("code"))


ACTIONS = {"delete": undo_delete, "patch": undo_patch, "create": undo_create, "exec": undo_exec}


def apply_undo(client: Any, record: dict[str, Any], *, dry_run: bool = False) -> str:
    """Apply one undo record through a ``kubernetes.dynamic.DynamicClient``.

    Returns ``undone``, ``already_clean``, ``diverged`` (a person changed the field since),
    ``not_ours`` (the object lost its guard labels) or ``planned`` (dry run); raises
    ``UndoFailed`` when the cluster refused or could not be reached.
    """
    try:
        action = ACTIONS[record["action"]]
    except KeyError:
        raise UndoFailed(f"unknown action {record.get('action')!r}") from None
    return action(client, record, dry_run)
