"""Garbage collection: dependents of a deleted owner, foreground deletion, dangling owners."""

from __future__ import annotations

from typing import Any

from .._resources import ResourceType
from .._store import Key, deep_copy, key_of
from ._base import Controller


class GarbageCollector(Controller):
    """The three always-on ``gc*`` queues."""

    def deleted_owner(self, uid: str) -> None:
        """An owner is gone: drop its reference, or delete dependents it owned alone."""
        for rt, dep in self.store.dependents_of(uid):
            refs = dep["metadata"].get("ownerReferences") or []
            alive = [r for r in refs if r.get("uid") != uid and r.get("uid") in self.store.by_uid]
            if alive:
                new = deep_copy(dep)
                new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                self.api.write(rt, new)
            elif not dep["metadata"].get("deletionTimestamp"):
                self._delete_quietly(rt, dep)

    def foreground(self, item: tuple[ResourceType, Key]) -> None:
        """An owner deleted with ``Foreground``: delete dependents, then drop the finalizer."""
        rt, key = item
        owner = self.store.data[rt].get(key)
        if owner is None or "foregroundDeletion" not in (owner["metadata"].get("finalizers") or []):
            return
        blocking = 0
        for dep_rt, dep in self.store.dependents_of(owner["metadata"]["uid"]):
            ref: dict[str, Any] = next(
                (
                    r
                    for r in dep["metadata"].get("ownerReferences") or []
                    if r.get("uid") == owner["metadata"]["uid"]
                ),
                {},
            )
            if not dep["metadata"].get("deletionTimestamp"):
                self._delete_quietly(dep_rt, dep, "Foreground")
            if ref.get("blockOwnerDeletion") and self.store.data[dep_rt].get(key_of(dep)) is not None:
                blocking += 1
        if blocking:
            return
        owner = self.store.data[rt].get(key)
        if owner is None:
            return
        new = deep_copy(owner)
        new["metadata"]["finalizers"] = [
            f for f in new["metadata"]["finalizers"] if f != "foregroundDeletion"
        ]
        self.api.write(rt, new)

    def dangling(self, item: tuple[ResourceType, Key]) -> None:
        """A new object whose owners are all gone is deleted."""
        rt, key = item
        obj = self.store.data[rt].get(key)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        refs = obj["metadata"].get("ownerReferences") or []
        if refs and not any(r.get("uid") in self.store.by_uid for r in refs):
            self._delete_quietly(rt, obj)
