"""Replay a recorded kube-apiserver case (``golden/cases/*.json``) against any API server.

A case is a fresh namespace, setup requests, one request and the normalised answer a real
kube-apiserver gave (see ``golden/README.md``). This module sends the requests over real
HTTP with the credentials of a ``kubernetes`` ``ApiClient`` (so the same code talks to the
emulator or to a real cluster), normalises the answer the same way the recorder did, and
evaluates the case's ``compare`` paths on both sides.
"""

from __future__ import annotations

import json
import re
import struct
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CASES_DIR = Path(__file__).parent / "golden" / "cases"
MISSING = "<missing>"

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_IP = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_SA_VOLUME = re.compile(r"kube-api-access-[a-z0-9]{5}\b")
_TOO_OLD = re.compile(r"too old resource version: (\d+) \(\d+\)")
_TOKEN = re.compile(r'\.?([A-Za-z0-9_$\-]+)|\[(\*|\d+|"[^"]*"|[^\]=]+=[^\]]*)\]')
_SETUP_REF = re.compile(r"\{\{setup\[(\d+)\]\.([^}]+)\}\}")
#: response headers a case may pin
_KEEP = ("Warning", "Retry-After")

#: what the recorder kept of a discovery body (the case says only ``trimmed``)
_TRIM_GROUPS = ("apps", "batch", "networking.k8s.io", "policy")
_TRIM_RESOURCES = {
    "/api/v1": ("pods", "pods/eviction", "pods/exec", "pods/log", "pods/status", "namespaces", "configmaps"),
    "/apis/apps/v1": ("deployments", "deployments/scale"),
}


def load_cases() -> list[dict[str, Any]]:
    """Every case file, in file-name order."""
    return [json.loads(p.read_text()) | {"file": p.stem} for p in sorted(CASES_DIR.glob("*.json"))]


# ----------------------------------------------------------------------------- normalising


class Normaliser:
    """Replace what differs between runs (uids, times, names of the test's namespace...)."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = sorted(names.items(), key=lambda kv: -len(kv[0]))

    def text(self, s: str) -> str:
        if _TIME.match(s):
            return "<time>"
        if s.startswith("-----BEGIN CERTIFICATE-----"):
            return "<pem>"
        for real, placeholder in self.names:
            s = s.replace(real, placeholder)
        s = _UUID.sub("<uid>", s)
        s = _SA_VOLUME.sub("kube-api-access-<rand>", s)
        return _TOO_OLD.sub(r"too old resource version: \1 (<rv>)", s)

    def __call__(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            out = {k: self(v, k) for k, v in value.items() if k != "managedFields"}
            gen, name = value.get("generateName"), value.get("name")
            if isinstance(gen, str) and isinstance(name, str) and name.startswith(gen):
                out["name"] = self.text(gen) + "<rand>"
            return out
        if isinstance(value, list):
            return [self(v, key) for v in value]
        if isinstance(value, str):
            return self._scalar(value, key)
        if key == "nodePort" and isinstance(value, int):
            return "<nodePort>"
        return value

    def _scalar(self, value: str, key: str | None) -> str:
        fixed = {"uid": "<uid>", "resourceVersion": "<rv>", "continue": "<continue>"}
        if key in fixed and value:
            return fixed[key]
        if key in ("clusterIP", "clusterIPs") and _IP.match(value):
            return "<clusterIP>"
        if key in ("podIP", "hostIP", "ip") and _IP.match(value):
            return "<ip>"
        if key == "serverAddress":
            return "<host:port>"
        return self.text(value)


def trim_discovery(path: str, body: Any) -> Any:
    """Keep the groups/resources a ``trimmed`` case kept."""
    if not isinstance(body, dict):
        return body
    if path == "/apis":
        return {**body, "groups": [g for g in body.get("groups", []) if g.get("name") in _TRIM_GROUPS]}
    keep = _TRIM_RESOURCES.get(path)
    if keep is not None:
        return {**body, "resources": [r for r in body.get("resources", []) if r.get("name") in keep]}
    return body


# ----------------------------------------------------------------------------- JSON paths


def evaluate(doc: Any, path: str) -> Any:
    """The value at a compare path (``body.items[*].metadata.name``, ``body.spec|keys``...)."""
    op = None
    if "|" in path:
        path, op = path.rsplit("|", 1)
    current, many, pos = [doc], False, 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if m is None:
            raise ValueError(f"bad compare path {path!r} at {pos}")
        pos = m.end()
        name, bracket = m.group(1), m.group(2)
        if bracket == "*":
            many = True
        current = [x for v in current for x in _step(v, name, bracket)]
    result = current if many else (current[0] if current else MISSING)
    if op == "keys":
        return sorted(result) if isinstance(result, dict) else MISSING
    if op == "len":
        return len(result) if isinstance(result, (list, dict, str)) else MISSING
    return result


def _step(value: Any, name: str | None, bracket: str | None) -> list[Any]:
    if name is not None or (bracket is not None and bracket.startswith('"')):
        key = name if name is not None else str(bracket)[1:-1]
        if not isinstance(value, dict):
            return [MISSING]
        # header names compare case-insensitively
        hit = key if key in value else next((k for k in value if k.lower() == key.lower()), None)
        return [value[hit] if hit is not None else MISSING]
    assert bracket is not None
    if bracket == "*":
        return list(value) if isinstance(value, list) else []
    if bracket.isdigit():
        i = int(bracket)
        return [value[i] if isinstance(value, list) and i < len(value) else MISSING]
    key, want = bracket.split("=", 1)
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and str(item.get(key)) == want:
                return [item]
    return [MISSING]


def substitute(value: Any, env: dict[str, str], docs: list[dict[str, Any]]) -> Any:
    """Fill ``<ns>``/``<node>`` and ``{{setup[N].PATH}}`` references."""
    if isinstance(value, dict):
        return {k: substitute(v, env, docs) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, env, docs) for v in value]
    if isinstance(value, str):
        for placeholder, real in env.items():
            value = value.replace(placeholder, real)
        return _SETUP_REF.sub(lambda m: str(evaluate(docs[int(m.group(1))], m.group(2))), value)
    return value


# ----------------------------------------------------------------------------- sending


def _parse(raw: bytes) -> Any:
    if not raw:
        return ""
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


@dataclass
class Sender:
    """Sends case steps with the host and credentials of a ``kubernetes`` ``ApiClient``."""

    api: Any  # kubernetes.client.ApiClient

    def _auth_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        self.api.update_params_for_auth(headers, [], ["BearerToken"])
        return headers

    def send(self, step: dict[str, Any], env: dict[str, str], docs: list[dict[str, Any]]) -> dict[str, Any]:
        path = substitute(step["path"], env, docs)
        query = substitute(step.get("query") or {}, env, docs)
        body = substitute(step.get("body"), env, docs)
        headers = dict(step.get("headers") or {})
        if step.get("mode") == "websocket":
            return self._websocket(path, query, headers)
        url = self.api.configuration.host + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        sent = {"Accept": "application/json", **self._auth_headers()}
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        sent.update(headers)
        resp = self.api.rest_client.pool_manager.request(
            step["method"], url, body=data, headers=sent, timeout=60, redirect=False
        )
        raw = resp.data
        if step.get("mode") == "watch":
            events = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
            keep = {k: v for k, v in resp.headers.items() if k in (*_KEEP, "Content-Type")}
            return {"status": resp.status, "headers": keep, "body": events}
        keep = {k: v for k, v in resp.headers.items() if k in _KEEP}
        return {"status": resp.status, "headers": keep, "body": _parse(raw)}

    def _websocket(self, path: str, query: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        from kubernetes.stream.ws_client import create_websocket
        from websocket import ABNF, WebSocketBadStatusException, WebSocketException

        url = self.api.configuration.host.replace("http", "ws", 1) + path
        url += "?" + urllib.parse.urlencode(query, doseq=True)
        sent = {k.lower(): v for k, v in {**headers, **self._auth_headers()}.items()}
        try:
            ws = create_websocket(self.api.configuration, url, sent)
        except WebSocketBadStatusException as exc:
            return {"status": exc.status_code, "headers": {}, "body": _parse(exc.resp_body or b"")}
        status = ws.getstatus()
        got = {k.lower(): v for k, v in (ws.getheaders() or {}).items()}
        keep = {
            name: got[name.lower()] for name in ("Upgrade", "Sec-WebSocket-Protocol") if name.lower() in got
        }
        frames: list[dict[str, Any]] = []
        ws.settimeout(15)
        try:
            while True:
                opcode, frame = ws.recv_data_frame(True)
                data = frame.data if isinstance(frame.data, bytes) else str(frame.data).encode()
                if opcode == ABNF.OPCODE_CLOSE:
                    code = struct.unpack(">H", data[:2])[0] if len(data) >= 2 else None
                    frames.append({"opcode": 8, "closeCode": code})
                    break
                if opcode == ABNF.OPCODE_BINARY and data:
                    frames.append({"opcode": opcode, "channel": data[0], "data": _parse(data[1:])})
                else:
                    frames.append({"opcode": opcode, "data": data.decode(errors="replace")})
        except (WebSocketException, OSError):
            pass
        finally:
            ws.close()
        return {"status": status, "headers": keep, "body": frames}


# ----------------------------------------------------------------------------- a case


def run_case(
    sender: Sender, case: dict[str, Any], namespace: str, node: str, *, poll_timeout: float = 90.0
) -> dict[str, Any]:
    """Send a case's setup and request in ``namespace``; return the normalised response."""
    env = {"<ns>": namespace, "<node>": node}
    docs: list[dict[str, Any]] = []
    try:
        for step in case.get("setup", []):
            docs.append(_setup_step(sender, step, env, docs, poll_timeout))
        resp = sender.send(case["request"], env, docs)
    finally:
        for step in case.get("cleanup", []):
            sender.send(step, env, docs)
    if case.get("trimmed"):
        resp["body"] = trim_discovery(case["request"]["path"], resp["body"])
    return Normaliser({namespace: "<ns>", node: "<node>"})(resp)  # type: ignore[no-any-return]


def _setup_step(
    sender: Sender, step: dict[str, Any], env: dict[str, str], docs: list[dict[str, Any]], timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        doc = sender.send(step, env, docs)
        conditions = step.get("poll_until")
        if not conditions:
            if not 200 <= doc["status"] < 300:
                raise AssertionError(
                    f"setup {step['method']} {step['path']} answered {doc['status']}: {doc['body']!r:.400}"
                )
            return doc
        if all(_holds(doc, c) for c in conditions):
            return doc
        if time.monotonic() > deadline:
            raise AssertionError(f"setup poll_until {conditions} never held; last: {json.dumps(doc)[:400]}")
        time.sleep(0.1)


def _holds(doc: dict[str, Any], condition: dict[str, Any]) -> bool:
    value = evaluate(doc, condition["path"])
    if condition.get("exists"):
        return value != MISSING  # type: ignore[no-any-return]
    return value == condition["equals"]  # type: ignore[no-any-return]


def differences(case: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """One line per compare path whose value differs from the recording."""
    out = []
    for path in case["compare"]:
        want, have = evaluate(case["response"], path), evaluate(got, path)
        if want != have:
            out.append(f"{path}:\n  recorded: {json.dumps(want)}\n  got:      {json.dumps(have)}")
    return out
