"""The object store: one dict per resource type, a global resourceVersion, indexes, events.

All access happens on the server's event loop thread, so nothing here locks. Stored objects
are never mutated in place: every write stores a fresh dict, so a reader may keep a
reference to an old version safely.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from ._resources import POD, RESOURCES, ResourceType

T = TypeVar("T")
Key = tuple[str, str]  # (namespace or "", name)
Obj = dict[str, Any]

#: how many events the store keeps for watches that resume from a resourceVersion
HISTORY = 20_000


@dataclass(frozen=True, slots=True)
class Event:
    """One change: ``ADDED``, ``MODIFIED`` or ``DELETED`` at resourceVersion ``rv``."""

    rv: int
    type: str
    rt: ResourceType
    obj: Obj
    old: Obj | None


def key_of(obj: Obj) -> Key:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


def deep_copy(obj: T) -> T:
    """Deep copy of JSON data (dicts, lists, scalars; tuples become lists as in JSON).

    A plain recursive walk: about twice as fast as a ``json`` round trip and far faster
    than :func:`copy.deepcopy`, and every write copies an object.
    """
    return _copy(obj)  # type: ignore[no-any-return]


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: _copy(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_copy(v) for v in value]
    return value


class Store:
    """In-memory objects by type and key, with the indexes the controllers need."""

    def __init__(self) -> None:
        self.rv = 1000
        self.data: dict[ResourceType, dict[Key, Obj]] = {rt: {} for rt in RESOURCES}
        self.by_uid: dict[str, tuple[ResourceType, Key]] = {}
        #: owner uid -> dependents that reference it
        self.dependents: dict[str, set[tuple[ResourceType, Key]]] = {}
        #: node name -> keys of pods bound to it
        self.pods_by_node: dict[str, set[Key]] = {}
        self.history: deque[Event] = deque(maxlen=HISTORY)
        #: the oldest resourceVersion a watch can resume from
        self.compacted_rv = self.rv
        self.listeners: list[Callable[[Event], None]] = []

    def clear(self) -> None:
        """Drop every object (no events); resourceVersions keep counting up."""
        for objects in self.data.values():
            objects.clear()
        self.by_uid.clear()
        self.dependents.clear()
        self.pods_by_node.clear()
        self.history.clear()
        self.compacted_rv = self.rv

    # -- reads ----------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj | None:
        return self.data[rt].get((namespace or "" if rt.namespaced else "", name))

    def by_uid_get(self, uid: str) -> Obj | None:
        hit = self.by_uid.get(uid)
        if hit is None:
            return None
        return self.data[hit[0]].get(hit[1])

    def iter(self, rt: ResourceType, namespace: str | None = None) -> Iterator[Obj]:
        """Objects of ``rt`` (in ``namespace`` when given), unsorted."""
        if namespace is None or not rt.namespaced:
            yield from self.data[rt].values()
        else:
            for (ns, _), obj in self.data[rt].items():
                if ns == namespace:
                    yield obj

    def sorted(self, rt: ResourceType, namespace: str | None = None) -> list[Obj]:
        """Objects in key order (namespace, then name), as etcd lists them."""
        items = self.data[rt]
        keys = sorted(k for k in items if namespace is None or not rt.namespaced or k[0] == namespace)
        return [items[k] for k in keys]

    def pods_on(self, node: str) -> list[Obj]:
        pods = self.data[POD]
        return [pods[k] for k in self.pods_by_node.get(node, ()) if k in pods]

    def dependents_of(self, uid: str) -> list[tuple[ResourceType, Obj]]:
        out: list[tuple[ResourceType, Obj]] = []
        for rt, key in list(self.dependents.get(uid, ())):
            obj = self.data[rt].get(key)
            if obj is not None:
                out.append((rt, obj))
        return out

    def namespace_contents(self, namespace: str) -> list[tuple[ResourceType, Obj]]:
        out: list[tuple[ResourceType, Obj]] = []
        for rt in RESOURCES:
            if rt.namespaced:
                out.extend((rt, obj) for obj in self.iter(rt, namespace))
        return out

    # -- writes ---------------------------------------------------------------------------------

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def put(self, rt: ResourceType, obj: Obj) -> Obj:
        """Store ``obj`` (a fresh dict the caller no longer mutates) with a new resourceVersion."""
        key = key_of(obj)
        old = self.data[rt].get(key)
        rv = self.next_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        self.data[rt][key] = obj
        self._index(rt, key, obj, old)
        self._emit(Event(rv, "MODIFIED" if old is not None else "ADDED", rt, obj, old))
        return obj

    def remove(self, rt: ResourceType, obj: Obj) -> Obj:
        """Remove the object; the DELETED event carries a new resourceVersion (as etcd's does)."""
        key = key_of(obj)
        old = self.data[rt].pop(key, None)
        if old is None:
            return obj
        rv = self.next_rv()
        final = dict(old)
        final["metadata"] = dict(old["metadata"], resourceVersion=str(rv))
        self._index(rt, key, None, old)
        self._emit(Event(rv, "DELETED", rt, final, old))
        return final

    def _index(self, rt: ResourceType, key: Key, new: Obj | None, old: Obj | None) -> None:
        entry = (rt, key)
        if old is not None:
            uid = old["metadata"].get("uid")
            if uid and (new is None or new["metadata"].get("uid") != uid):
                self.by_uid.pop(uid, None)
            for ref in old["metadata"].get("ownerReferences") or []:
                deps = self.dependents.get(ref.get("uid", ""))
                if deps is not None:
                    deps.discard(entry)
                    if not deps:
                        del self.dependents[ref.get("uid", "")]
            if rt is POD:
                node = (old.get("spec") or {}).get("nodeName")
                if node:
                    self.pods_by_node.get(node, set()).discard(key)
        if new is not None:
            uid = new["metadata"].get("uid")
            if uid:
                self.by_uid[uid] = entry
            for ref in new["metadata"].get("ownerReferences") or []:
                self.dependents.setdefault(ref.get("uid", ""), set()).add(entry)
            if rt is POD:
                node = (new.get("spec") or {}).get("nodeName")
                if node:
                    self.pods_by_node.setdefault(node, set()).add(key)

    def _emit(self, event: Event) -> None:
        if len(self.history) == self.history.maxlen:
            self.compacted_rv = self.history[0].rv
        self.history.append(event)
        for listener in list(self.listeners):
            listener(event)
