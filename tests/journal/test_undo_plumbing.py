"""The undo code is the one source of Kubernetes plumbing: scenarios and rollback agree on it."""

from __future__ import annotations

from typing import Any

import pytest

from krkn_airflow_provider.rollback import undo
from krkn_airflow_provider.rollback.undo import UndoFailed, apply_undo
from krkn_airflow_provider.rollback.versionfile import undo_source
from krkn_airflow_provider.scenarios import kube


@pytest.mark.emulator_only("injects a 403 into the API server")
def test_forbidden_undo_names_the_plural_resource(kube: Any) -> None:
    """A refused undo of a NetworkPolicy names the resource RBAC knows: networkpolicies."""
    record = {
        "action": "delete",
        "api_version": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "namespace": kube.namespace,
        "name": "deny-all",
    }
    kube.emulator.inject_fault(method="DELETE", path_regex="/networkpolicies/", status=403, times=None)
    with pytest.raises(UndoFailed) as raised:
        apply_undo(kube.dynamic(), record)
    message = str(raised.value)
    assert raised.value.status == 403
    assert (
        "(RBAC: allow verb 'delete' on networkpolicies in apiGroup networking.k8s.io "
        "for the rollback identity)"
    ) in message
    assert message.startswith(f"delete failed for delete NetworkPolicy {kube.namespace}/deny-all: 403")


def test_scenarios_use_the_undo_plumbing() -> None:
    """One definition each: the scenario helpers are the embedded undo code's."""
    for name in ("as_dict", "status_of", "plural", "retryable", "selector_string", "RETRYABLE_STATUS"):
        assert getattr(kube, name) is getattr(undo, name), name
    assert [undo.plural(kind) for kind in ("NetworkPolicy", "Pod", "Ingress")] == [
        "networkpolicies",
        "pods",
        "ingresses",
    ]


def test_the_plumbing_travels_in_every_version_file() -> None:
    """A version file run by hand has the same helpers, with no provider import."""
    source = undo_source()
    for name in ("def plural(", "def status_of(", "def selector_string(", "def exec_stream("):
        assert name in source
    assert "krkn_airflow_provider" not in source
