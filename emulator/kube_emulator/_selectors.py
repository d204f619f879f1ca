"""Label selectors, field selectors, node selector terms and resource quantities."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from . import _errors

Labels = Mapping[str, str]


@dataclass(frozen=True)
class Requirement:
    """One label requirement: ``key op values``."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: Labels) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!":
            return self.key not in labels
        if self.op in ("=", "in"):
            return self.key in labels and labels[self.key] in self.values
        # "!=" and "notin" match objects without the key, as in Kubernetes
        return self.key not in labels or labels[self.key] not in self.values

    def __str__(self) -> str:
        if self.op == "exists":
            return self.key
        if self.op == "!":
            return "!" + self.key
        if self.op in ("=", "!="):
            return f"{self.key}{self.op}{self.values[0]}"
        return f"{self.key} {self.op} ({','.join(sorted(self.values))})"


class LabelSelector:
    """A parsed selector: all requirements must match. An empty selector matches everything."""

    def __init__(self, requirements: list[Requirement] | None = None, *, nothing: bool = False) -> None:
        self.requirements = requirements or []
        self.nothing = nothing

    def matches(self, labels: Labels | None) -> bool:
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements and not self.nothing

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


_KEY_RE = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|[^\s!=(),]+)")


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse the ``labelSelector`` query syntax (``a=b,c!=d,e in (x,y),f notin (z),g,!h``).

    :raises ApiError: 400 BadRequest on a malformed selector, like the apiserver.
    """
    if not text or not text.strip():
        return LabelSelector()
    tokens = _tokenize(text)
    reqs: list[Requirement] = []
    i = 0
    while i < len(tokens):
        req, i = _parse_requirement(tokens, i)
        reqs.append(req)
        if i < len(tokens):
            if tokens[i] != ",":
                raise _parse_failure(f"found '{tokens[i]}', expected: ',' or 'end of string'")
            i += 1
    return LabelSelector(reqs)


def _parse_failure(why: str) -> _errors.ApiError:
    return _errors.bad_request(f"unable to parse requirement: {why}")


def _tokenize(text: str) -> list[str]:
    """Split a selector into keys, values, operators, parentheses and commas."""
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            break
        tokens.append(m.group(1))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens


def _parse_requirement(tokens: list[str], i: int) -> tuple[Requirement, int]:
    """The requirement starting at ``tokens[i]`` and the index just past it."""
    tok = tokens[i]
    if tok == "!":
        if i + 1 >= len(tokens):
            raise _parse_failure("found '', expected: identifier")
        key = tokens[i + 1]
        _check_key(key, _parse_failure)
        return Requirement(key, "!"), i + 2
    key = tok
    _check_key(key, _parse_failure)
    nxt = tokens[i + 1] if i + 1 < len(tokens) else ","
    if nxt == ",":
        return Requirement(key, "exists"), i + 1
    if nxt in ("=", "==", "!="):
        value = tokens[i + 2] if i + 2 < len(tokens) and tokens[i + 2] != "," else ""
        if not _VALUE_RE.match(value):
            raise _parse_failure(
                f'values[0][{key}]: Invalid value: "{value}": a valid label must be an empty '
                "string or consist of alphanumeric characters, '-', '_' or '.'"
            )
        return Requirement(key, "!=" if nxt == "!=" else "=", (value,)), i + (3 if value else 2)
    if nxt.lower() in ("in", "notin"):
        return _parse_set_requirement(tokens, i, key, nxt.lower())
    raise _parse_failure(f"found '{nxt}', expected: in, notin, =, ==, !=, gt, lt")


def _parse_set_requirement(tokens: list[str], i: int, key: str, op: str) -> tuple[Requirement, int]:
    """``key in (a,b)`` / ``key notin (a,b)`` starting at ``tokens[i]`` (the key)."""
    if i + 2 >= len(tokens) or tokens[i + 2] != "(":
        raise _parse_failure(f"found '{tokens[i + 2] if i + 2 < len(tokens) else ''}', expected: '('")
    j = i + 3
    values: list[str] = []
    while j < len(tokens) and tokens[j] != ")":
        if tokens[j] != ",":
            values.append(tokens[j])
        j += 1
    if j >= len(tokens):
        raise _parse_failure("found '', expected: ',' or ')'")
    return Requirement(key, op, tuple(values)), j + 1


def _check_key(key: str, fail: Callable[[str], _errors.ApiError]) -> None:
    if key in ("=", "==", "!=", "(", ")", ",") or not _KEY_RE.match(key):
        raise fail(f"found '{key}', expected: identifier" if not _KEY_RE.match(key) else key)


def selector_from_spec(spec: Mapping[str, Any] | None, *, empty_matches_all: bool = True) -> LabelSelector:
    """Build a selector from a ``metav1.LabelSelector`` object (``matchLabels``/``matchExpressions``).

    ``None`` matches nothing; ``{}`` matches everything unless ``empty_matches_all`` is false
    (PodDisruptionBudgets treat an empty selector as matching nothing).
    """
    if spec is None:
        return LabelSelector(nothing=True)
    reqs = [Requirement(k, "=", (str(v),)) for k, v in (spec.get("matchLabels") or {}).items()]
    for expr in spec.get("matchExpressions") or []:
        op = str(expr.get("operator", ""))
        key = str(expr.get("key", ""))
        values = tuple(str(v) for v in expr.get("values") or [])
        mapped = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}.get(op)
        if mapped is None:
            raise _errors.bad_request(f'"{op}" is not a valid label selector operator')
        reqs.append(Requirement(key, mapped, values))
    if not reqs and not empty_matches_all:
        return LabelSelector(nothing=True)
    return LabelSelector(reqs)


def selector_string(spec: Mapping[str, Any] | None) -> str:
    """Render a ``metav1.LabelSelector`` as the query syntax (for Scale.status.selector)."""
    return str(selector_from_spec(spec))


# -- field selectors -----------------------------------------------------------------------------

#: Fields each kind can be selected on (besides metadata.name and metadata.namespace).
FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "Pod": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.podIPs",
        "status.nominatedNodeName",
    ),
    "Node": ("spec.unschedulable",),
    "Namespace": ("status.phase",),
    "Secret": ("type",),
    "Event": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "Job": ("status.successful",),
    "ReplicaSet": ("status.replicas",),
}


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    if path == "source":
        path = "source.component"
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return ""
        cur = cur.get(part)
    if cur is None:
        if path == "spec.unschedulable" or path == "spec.hostNetwork":
            return "false"
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if isinstance(cur, list):
        return ",".join(str(x.get("ip", x)) if isinstance(x, Mapping) else str(x) for x in cur)
    return str(cur)


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    negate: bool
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        actual = _field_value(obj, self.field)
        return (actual != self.value) if self.negate else (actual == self.value)


class FieldSelector:
    def __init__(self, reqs: list[FieldRequirement]) -> None:
        self.reqs = reqs

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(r.matches(obj) for r in self.reqs)

    @property
    def empty(self) -> bool:
        return not self.reqs

    def value_of(self, field: str) -> str | None:
        """The value an ``=`` requirement pins ``field`` to, if any (for indexed lookups)."""
        for r in self.reqs:
            if r.field == field and not r.negate:
                return r.value
        return None


def parse_field_selector(text: str | None, kind: str) -> FieldSelector:
    """Parse ``fieldSelector`` (``=``, ``==``, ``!=`` joined by commas) for ``kind``.

    :raises ApiError: 400 BadRequest for a malformed selector or an unsupported field.
    """
    if not text or not text.strip():
        return FieldSelector([])
    allowed = ("metadata.name", "metadata.namespace", *FIELD_LABELS.get(kind, ()))
    reqs: list[FieldRequirement] = []
    for part in _split_unescaped(text):
        part = part.strip()
        if not part:
            continue
        for op in ("!=", "==", "="):
            idx = part.find(op)
            if idx > 0:
                field, value = part[:idx].strip(), part[idx + len(op) :].strip()
                break
        else:
            raise _errors.bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        if field not in allowed:
            if kind in FIELD_LABELS:  # a kind with its own field label conversion
                raise _errors.bad_request(f"field label not supported: {field}")
            raise _errors.bad_request(
                f'"{field}" is not a known field selector: only "metadata.name", "metadata.namespace"'
            )
        reqs.append(FieldRequirement(field, op == "!=", _unescape(value)))
    return FieldSelector(reqs)


def _split_unescaped(text: str) -> list[str]:
    parts, cur, escaped = [], [], False
    for ch in text:
        if escaped:
            cur.append("\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


# -- node selection ------------------------------------------------------------------------------


def _node_requirement_matches(expr: Mapping[str, Any], labels: Labels) -> bool:
    key = expr.get("key", "")
    op = expr.get("operator", "")
    values = [str(v) for v in expr.get("values") or []]
    present = key in labels
    if op == "In":
        return present and labels[key] in values
    if op == "NotIn":
        return not present or labels[key] not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and values:
        try:
            have, want = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def node_selector_terms_match(terms: list[Mapping[str, Any]], node: Mapping[str, Any]) -> bool:
    """``nodeSelectorTerms`` are ORed; within a term, expressions and fields are ANDed."""
    labels = node.get("metadata", {}).get("labels") or {}
    fields = {"metadata.name": node.get("metadata", {}).get("name", "")}
    for term in terms:
        exprs = term.get("matchExpressions") or []
        field_exprs = term.get("matchFields") or []
        if not exprs and not field_exprs:
            continue  # an empty term matches nothing
        if all(_node_requirement_matches(e, labels) for e in exprs) and all(
            _node_requirement_matches(e, fields) for e in field_exprs
        ):
            return True
    return False


def tolerates(tolerations: list[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    """Whether any toleration tolerates ``taint`` (same rules as the scheduler)."""
    for tol in tolerations:
        effect = tol.get("effect") or ""
        if effect and effect != taint.get("effect"):
            continue
        op = tol.get("operator") or "Equal"
        key = tol.get("key") or ""
        if not key:
            if op == "Exists":
                return True
            continue
        if key != taint.get("key"):
            continue
        if op == "Exists" or (tol.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


# -- quantities ----------------------------------------------------------------------------------

_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "u": Decimal("0.000001"),
    "n": Decimal("0.000000001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_QUANTITY_RE = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|u|n|k|M|G|T|P|E)?$")


def parse_quantity(value: Any) -> Decimal | None:
    """Parse a Kubernetes quantity (``500m``, ``1Gi``, ``2``); None when malformed."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    m = _QUANTITY_RE.match(str(value).strip())
    if not m:
        return None
    try:
        return Decimal(m.group(1)) * _SUFFIXES[m.group(2) or ""]
    except InvalidOperation:
        return None
