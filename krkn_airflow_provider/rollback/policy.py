"""The replay policy: the only records a replay will apply, signed or not.

Whoever can write the journal's storage can write a record, and without a key can give it
a valid digest too. So before any request, every record must have a shape the shipped
scenarios write (see ``scenarios/``, which build every undo record):

* ``delete`` — only of a namespaced kind the scenarios create (Pod, ConfigMap, Service,
  NetworkPolicy, Job), only guarded by exactly the labels ``Journal.object_labels()`` sets
  (``app.kubernetes.io/managed-by=krkn-airflow-provider``, ``krkn.io/run``,
  ``krkn.io/nonce``); never cluster-scoped, never in a protected namespace;
* ``create`` — only of a kind the scenarios delete (a bare Pod; a Service, Deployment,
  StatefulSet, DaemonSet or ReplicaSet of service disruption) or the cleanup Job of the
  node scenarios, carrying our labels; the manifest must name the same kind, name and
  namespace as the record;
* ``patch`` — only the fields scenarios change: a Node's ``spec.unschedulable`` and
  ``spec.taints``, a Service's ``spec.selector`` (and ``krkn.io/`` annotations);
* ``exec`` — only the commands the undo templates emit: the clock reset of the time
  scenarios and the removal of the fill file of the PVC scenario.

Anything else is refused by name; the record stays pending for a person to look at.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from krkn_airflow_provider.errors import PolicyRefused
from krkn_airflow_provider.rollback.records import MANAGED_BY, MANAGED_BY_LABEL, NONCE_LABEL, RUN_LABEL

SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
OWN_NAMESPACE_ENV = "KRKN_AIRFLOW_NAMESPACE"
GUARD_LABELS = frozenset({MANAGED_BY_LABEL, RUN_LABEL, NONCE_LABEL})

# What scenarios create (and so may delete again), and what they delete (and may create).
DELETE_KINDS = frozenset(
    {
        ("v1", "Pod"),
        ("v1", "ConfigMap"),
        ("v1", "Service"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("batch/v1", "Job"),
    }
)
CREATE_KINDS = frozenset(
    {
        ("v1", "Pod"),
        ("v1", "Service"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("apps/v1", "ReplicaSet"),
    }
)
UNDO_JOB = ("batch/v1", "Job")
UNDO_JOB_NAME = re.compile(r"krkn-[a-z0-9-]{1,50}")
# Fields a reverse patch may touch, per kind: a tree of allowed keys (None: any value).
PATCH_FIELDS: Mapping[tuple[str, str], Mapping[str, Any]] = {
    ("v1", "Node"): {"spec": {"unschedulable": None, "taints": None}},
    ("v1", "Service"): {"spec": {"selector": None}},
}
ANNOTATION_PREFIX = "krkn.io/"

# The exact command of the time scenarios' clock reset (scenarios/time_scenarios.py RESET).
CLOCK_RESET = (
    "hwclock -s 2>/dev/null || chronyc -a makestep 2>/dev/null || ntpd -q -n -p pool.ntp.org 2>/dev/null"
    " || { echo 'cannot reset the clock: no hwclock, chronyc or ntpd' >&2; exit 1; }"
)
# The PVC scenario's fill file: rm -f <mount path>/kraken-<8 letters>.tmp
FILL_FILE_REMOVAL = re.compile(r"rm -f (/(?:[A-Za-z0-9_.-]+/)*)kraken-[a-z]{8}\.tmp")
SHELL = ["/bin/sh", "-c"]


def default_protected() -> frozenset[str]:
    own = os.environ.get(OWN_NAMESPACE_ENV)
    return SYSTEM_NAMESPACES | ({own} if own else set())


@dataclass(frozen=True)
class ReplayPolicy:
    """What a replay may apply.

    :param protected_namespaces: namespaces no record may touch (default: the system ones
        and ``$KRKN_AIRFLOW_NAMESPACE``).
    :param allow_protected_namespaces: let records touch them anyway (for runs made with
        ``allow_protected_namespaces=True``).
    """

    protected_namespaces: frozenset[str] = field(default_factory=default_protected)
    allow_protected_namespaces: bool = False

    def check(self, record: Mapping[str, Any], *, source: str = "record") -> None:
        """Raise ``PolicyRefused`` naming the rule when ``record`` is not one we write."""
        problem = self.problem(record)
        if problem:
            raise PolicyRefused(f"{source}: refused by the replay policy: {problem}; left pending")

    def problem(self, record: Mapping[str, Any]) -> str | None:
        action = record.get("action")
        namespace = record.get("namespace")
        key = (str(record.get("api_version")), str(record.get("kind")))
        what = f"{action} {key[1]} ({key[0]}) {namespace + '/' if namespace else ''}{record.get('name')}"
        if namespace and namespace in self.protected_namespaces and not self.allow_protected_namespaces:
            return f"{what} is in protected namespace {namespace!r}"
        if action == "delete":
            return _delete_problem(record, key, what)
        if action == "create":
            return _create_problem(record, key, what)
        if action == "patch":
            return _patch_problem(record, key, what)
        if action == "exec":
            return _exec_problem(record, key, what)
        return f"unknown action {action!r}"


def _guard_problem(labels: Any, what: str) -> str | None:
    if not isinstance(labels, Mapping) or set(labels) != GUARD_LABELS:
        return f"{what} is not guarded by exactly the labels {', '.join(sorted(GUARD_LABELS))}"
    if labels[MANAGED_BY_LABEL] != MANAGED_BY or not labels[RUN_LABEL] or not labels[NONCE_LABEL]:
        return f"{what} has a guard that is not the provider's ({MANAGED_BY_LABEL}={MANAGED_BY})"
    return None


def _delete_problem(record: Mapping[str, Any], key: tuple[str, str], what: str) -> str | None:
    if not record.get("namespace"):
        return f"{what}: cluster-scoped deletes are never replayed"
    if key not in DELETE_KINDS:
        return f"{what}: no scenario creates a {key[1]}, so no record deletes one"
    return _guard_problem(record.get("guard"), what)


def _create_problem(record: Mapping[str, Any], key: tuple[str, str], what: str) -> str | None:
    namespace = record.get("namespace")
    if not namespace:
        return f"{what}: cluster-scoped creates are never replayed"
    manifest = record.get("manifest") or {}
    metadata = manifest.get("metadata") or {}
    if (manifest.get("apiVersion"), manifest.get("kind")) != key or metadata.get("name") != record.get(
        "name"
    ):
        return f"{what}: the manifest names another object than the record"
    if metadata.get("namespace") not in (None, namespace):
        return f"{what}: the manifest is for namespace {metadata.get('namespace')!r}"
    if key == UNDO_JOB:
        if not UNDO_JOB_NAME.fullmatch(str(record.get("name"))):
            return f"{what}: an undo Job is named krkn-..."
        return _guard_problem(metadata.get("labels"), what) or (
            None
            if record.get("guard") == metadata.get("labels")
            else f"{what}: guard differs from its labels"
        )
    if key not in CREATE_KINDS:
        return f"{what}: no scenario deletes a {key[1]}, so no record creates one"
    return None


def _outside(tree: Any, allowed: Mapping[str, Any], path: str = "") -> Iterable[str]:
    if not isinstance(tree, Mapping):
        yield path or "the patch"
        return
    for name, value in tree.items():
        here = f"{path}.{name}" if path else str(name)
        if name not in allowed:
            yield here
        elif allowed[name] is not None:
            yield from _outside(value, allowed[name], here)


def _patch_problem(record: Mapping[str, Any], key: tuple[str, str], what: str) -> str | None:
    allowed = PATCH_FIELDS.get(key)
    if allowed is None:
        return f"{what}: scenarios patch only Nodes and Services"
    if key == ("v1", "Node") and record.get("namespace"):
        return f"{what}: a Node has no namespace"
    if key == ("v1", "Service") and not record.get("namespace"):
        return f"{what}: a Service needs its namespace"
    for name in ("patch", "expect"):
        body = dict(record.get(name) or {})
        annotations = (
            (body.get("metadata") or {}).get("annotations")
            if isinstance(body.get("metadata"), Mapping)
            else None
        )
        if (
            isinstance(body.get("metadata"), Mapping)
            and set(body["metadata"]) == {"annotations"}
            and isinstance(annotations, Mapping)
        ):
            if any(not str(annotation).startswith(ANNOTATION_PREFIX) for annotation in annotations):
                return f"{what}: {name} touches annotations other than {ANNOTATION_PREFIX}*"
            body.pop("metadata")
        outside = sorted(_outside(body, allowed))
        if outside:
            return f"{what}: {name} touches {', '.join(outside)}, which no scenario changes"
    return None


def _exec_problem(record: Mapping[str, Any], key: tuple[str, str], what: str) -> str | None:
    if key != ("v1", "Pod"):
        return f"{what}: exec runs only in Pods"
    command = record.get("command")
    if not isinstance(command, list) or len(command) != 3 or command[:2] != SHELL:
        return f"{what}: the command is not one an undo template emits"
    script = command[2]
    if script == CLOCK_RESET:
        return None
    match = FILL_FILE_REMOVAL.fullmatch(script)
    if match and "/../" not in f"{match[1]}" and "/./" not in match[1]:
        return None
    return f"{what}: the command is not one an undo template emits"


def check_policy(
    record: Mapping[str, Any], *, source: str = "record", policy: ReplayPolicy | None = None
) -> None:
    """Raise ``PolicyRefused`` unless ``record`` passes ``policy`` (the default one)."""
    (policy or ReplayPolicy()).check(record, source=source)
