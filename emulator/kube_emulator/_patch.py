"""JSON merge patch (RFC 7386), strategic merge patch and JSON patch (RFC 6902).

Strategic merge patch knows the merge keys of the lists chaos code touches (containers,
env, volumes, ports, tolerations...) from a table instead of the OpenAPI schema:

* lists with a merge key (``containers`` by ``name``, ``ports`` by ``containerPort``/``port``,
  ``volumeMounts`` by ``mountPath``, ``conditions`` by ``type``, ``ownerReferences`` by
  ``uid``...) merge element by element; ``{"$patch": "delete", <key>: ...}`` removes one;
* ``finalizers`` merge as a set of strings; ``$deleteFromPrimitiveList/<field>`` removes;
* the merged list holds the patch's elements first (in patch order), then the ones the patch
  did not name; ``$setElementOrder/<field>`` (what kubectl sends) reorders it;
* every other list (``taints``, ``tolerations``, ``args``, ``command``...) is replaced whole,
  exactly as the apiserver does for lists without a patch strategy (a ``$patch`` inside one
  is an unknown field, not a directive);
* ``{"$patch": "replace"}`` in a map replaces the map; ``$retainKeys`` is accepted and ignored.
"""

from __future__ import annotations

import copy
from typing import Any

from . import _errors

#: field name -> merge key, for lists that merge by key under strategic merge patch
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "env": "name",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "ownerReferences": "uid",
    "conditions": "type",
    "addresses": "type",
    "resourceClaims": "name",
    "schedulingGates": "name",
    "topologySpreadConstraints": "topologyKey",
    "containerStatuses": "name",
    "initContainerStatuses": "name",
}
#: lists of strings merged as sets
PRIMITIVE_MERGE = frozenset({"finalizers"})


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch; ``null`` deletes a key. Returns a new value."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = merge_patch(result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        for item in items:
            if isinstance(item, dict):
                return "containerPort" if "containerPort" in item else "port"
        return None
    return MERGE_KEYS.get(field)


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Apply a strategic merge patch (see the module docstring for the supported rules)."""
    if not isinstance(patch, dict):
        raise _errors.bad_request("invalid JSON document: strategic merge patch must be a JSON object")
    return _smp_map(target if isinstance(target, dict) else {}, patch)


def _smp_map(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return {}
    result = dict(target)
    deletes: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            deletes[key.split("/", 1)[1]] = list(value or [])
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            existing = result.get(key)
            result[key] = _smp_map(existing if isinstance(existing, dict) else {}, value)
        elif isinstance(value, list):
            order = patch.get(f"$setElementOrder/{key}")
            result[key] = _smp_list(key, result.get(key), value, order if isinstance(order, list) else None)
        else:
            result[key] = value
    for field, removed in deletes.items():
        current = result.get(field)
        if isinstance(current, list):
            result[field] = [x for x in current if x not in removed]
    return result


def _smp_list(field: str, target: Any, patch: list[Any], order: list[Any] | None = None) -> list[Any]:
    current = list(target) if isinstance(target, list) else []
    if field in PRIMITIVE_MERGE:
        out = list(current)
        for item in patch:
            if item not in out:
                out.append(item)
        return out
    key = _merge_key(field, patch) or _merge_key(field, current)
    if key is None or not all(isinstance(p, dict) for p in patch):
        # no patch strategy: the list is replaced as sent, directives and all
        return copy.deepcopy(patch)
    if any(p.get("$patch") == "replace" for p in patch):
        return [copy.deepcopy(p) for p in patch if p.get("$patch") != "replace"]
    # the patch's elements come first, in patch order (merged into the ones they name),
    # then the elements the patch did not mention, in their old order
    merged: list[Any] = []
    named: set[Any] = set()
    for item in patch:
        if key not in item:
            raise _errors.bad_request(f"map: {item} does not contain declared merge key: {key}")
        named.add(item[key])
        if item.get("$patch") == "delete":
            continue
        old = next((c for c in current if isinstance(c, dict) and c.get(key) == item[key]), None)
        merged.append(_smp_map(old if old is not None else {}, item))
    merged += [c for c in current if not (isinstance(c, dict) and c.get(key) in named)]
    if order:
        rank = {(o.get(key) if isinstance(o, dict) else o): i for i, o in enumerate(order)}
        merged.sort(key=lambda c: rank.get(c.get(key) if isinstance(c, dict) else None, len(rank)))
    return merged


# -- JSON patch ----------------------------------------------------------------------------------


def _invalid(why: str) -> _errors.ApiError:
    """A JSON patch that does not apply: the apiserver keeps ``why`` to itself."""
    del why
    return _errors.ApiError(422, "Invalid", _errors.GENERIC_MESSAGES[422], {})


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _invalid(
            f"the server rejected our request due to an error in our request: invalid path {path!r}"
        )
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str], op: str, path: str) -> Any:
    cur = doc
    for part in parts:
        if isinstance(cur, dict):
            if part not in cur:
                raise _invalid(f"{op} operation does not apply: doc is missing path: {path}: missing value")
            cur = cur[part]
        elif isinstance(cur, list):
            try:
                cur = cur[int(part)]
            except (ValueError, IndexError):
                raise _invalid(
                    f"{op} operation does not apply: doc is missing path: {path}: missing value"
                ) from None
        else:
            raise _invalid(f"{op} operation does not apply: doc is missing path: {path}: missing value")
    return cur


def json_patch(doc: Any, ops: Any) -> Any:
    """Apply an RFC 6902 JSON patch. Failures are ``422`` like the apiserver's."""
    if not isinstance(ops, list):
        raise _errors.bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op:
            raise _invalid("the server rejected our request due to an error in our request")
        name = op["op"]
        path = op.get("path", "")
        parts = _pointer(path)
        if name == "test":
            if _walk(doc, parts, "test", path) != op.get("value"):
                raise _invalid("the server rejected our request due to an error in our request")
            continue
        if name in ("move", "copy"):
            from_parts = _pointer(op.get("from", ""))
            value = copy.deepcopy(_walk(doc, from_parts, name, op.get("from", "")))
            if name == "move":
                doc = _remove(doc, from_parts, op.get("from", ""))
            doc = _add(doc, parts, value, path)
            continue
        if name == "remove":
            doc = _remove(doc, parts, path)
        elif name == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")), path)
        elif name == "replace":
            _walk(doc, parts, "replace", path)
            doc = _remove(doc, parts, path)
            doc = _add(doc, parts, copy.deepcopy(op.get("value")), path)
        else:
            raise _invalid(f"Unexpected kind: {name}")
    return doc


def _add(doc: Any, parts: list[str], value: Any, path: str) -> Any:
    if not parts:
        return value
    parent = _walk(doc, parts[:-1], "add", path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            try:
                idx = int(last)
            except ValueError:
                raise _invalid(
                    f"add operation does not apply: doc is missing path: {path}: missing value"
                ) from None
            if idx < 0 or idx > len(parent):
                raise _invalid(f"add operation does not apply: doc is missing path: {path}: missing value")
            parent.insert(idx, value)
    else:
        raise _invalid(f"add operation does not apply: doc is missing path: {path}: missing value")
    return doc


def _remove(doc: Any, parts: list[str], path: str) -> Any:
    if not parts:
        return None
    parent = _walk(doc, parts[:-1], "remove", path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
        return doc
    if isinstance(parent, list):
        try:
            parent.pop(int(last))
            return doc
        except (ValueError, IndexError):
            pass
    raise _invalid(f"remove operation does not apply: doc is missing path: {path}: missing value")
