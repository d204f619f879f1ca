"""The namespace lifecycle: default ServiceAccount and CA ConfigMap, deleting contents, finalizing."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

from .._resources import CONFIGMAP, NAMESPACE, SERVICEACCOUNT
from .._store import deep_copy
from ._base import Controller

if TYPE_CHECKING:
    from .loop import Controllers

FAKE_CA = (
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBdzCCAR2gAwIBAgIBADAKBggqhkjOPQQDAjAjMSEwHwYDVQQDDBhrdWJlLWVtdWxhdG9yLWZha2UtY2EwHhcN\n"
    "-----END CERTIFICATE-----\n"
)

_CA_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
    "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
    "guaranteed across distributions of Kubernetes clusters."
)


class NamespaceController(Controller):
    """Always on; keyed by namespace name."""

    def __init__(self, loop: Controllers) -> None:
        super().__init__(loop)
        #: terminating namespace -> monotonic time its deletion began (finalized only after
        #: ``namespace_terminate_delay`` more seconds)
        self.hold: dict[str, float] = {}

    def reset(self) -> None:
        self.hold.clear()

    def reconcile(self, name: str) -> None:
        ns = self.store.get(NAMESPACE, None, name)
        if ns is None:
            return
        if not ns["metadata"].get("deletionTimestamp"):
            self._populate(name)
            return
        contents = self.store.namespace_contents(name)
        if contents and name not in self.hold:
            self.hold[name] = time.monotonic()
            with contextlib.suppress(RuntimeError):  # no loop: the next resync looks again
                self.after(self.settings.namespace_terminate_delay, "namespace", name)
        for rt, obj in contents:
            if not obj["metadata"].get("deletionTimestamp"):
                self._delete_quietly(rt, obj)
        if self.store.namespace_contents(name):
            return
        if time.monotonic() < self.hold.get(name, 0.0) + self.settings.namespace_terminate_delay:
            return  # the timer comes back
        self.hold.pop(name, None)
        self._finalize(name)

    def _populate(self, name: str) -> None:
        """What every live namespace holds: the default ServiceAccount and the CA bundle."""
        if self.store.get(SERVICEACCOUNT, name, "default") is None:
            self.api.create(SERVICEACCOUNT, name, {"metadata": {"name": "default"}})
        if self.store.get(CONFIGMAP, name, "kube-root-ca.crt") is None:
            meta = {"name": "kube-root-ca.crt", "annotations": {"kubernetes.io/description": _CA_DESCRIPTION}}
            self.api.create(CONFIGMAP, name, {"metadata": meta, "data": {"ca.crt": FAKE_CA}})

    def _finalize(self, name: str) -> None:
        ns = self.store.get(NAMESPACE, None, name)
        if ns is None:
            return
        new = deep_copy(ns)
        new.setdefault("spec", {})["finalizers"] = [
            f for f in new["spec"].get("finalizers", []) if f != "kubernetes"
        ]
        if not new["spec"]["finalizers"]:
            del new["spec"]["finalizers"]
        self.api.write(NAMESPACE, new)
