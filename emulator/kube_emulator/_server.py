"""The aiohttp application: routing, auth, request log, faults, watch, exec and logs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import shlex
import threading
import time
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from . import _errors, _resources, _tables
from ._api import SCALABLE, Api
from ._resources import NAMESPACE, POD, SERVICEACCOUNT, ResourceType
from ._selectors import FieldRequirement, parse_field_selector, parse_label_selector
from ._store import Event, Obj
from ._types import ExecRecord, ExecReply, Fault, RequestRecord
from .controllers import SIGNALS, Controllers

log = logging.getLogger("kube_emulator.server")

VERSION = {
    "major": "1",
    "minor": "36",
    "emulationMajor": "1",
    "emulationMinor": "36",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "35",
    "gitVersion": "v1.36.2",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-06-11T00:00:00Z",
    "goVersion": "go1.26.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}

UNAUTHENTICATED = {"/healthz", "/livez", "/readyz"}
JSON = "application/json"


PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _dry_run(q: Any) -> bool:
    return bool(q.get("dryRun") == "All")


def _ctype(request: web.Request) -> str:
    """The request's Content-Type, which names the patch flavour."""
    return request.headers.get("Content-Type", "")


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=_dumps(body), content_type=JSON, headers=headers)


def _error_response(err: _errors.ApiError) -> web.Response:
    headers = {"Retry-After": str(err.retry_after)} if err.retry_after else None
    return _json_response(err.code, err.status(), headers)


def _check_patch_type(request: web.Request) -> None:
    """Refuse a PATCH the apiserver refuses before reading its body."""
    ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype not in PATCH_TYPES:
        raise _errors.unsupported_media_type(ctype)
    if ctype == "application/apply-patch+yaml" and not request.query.get("fieldManager"):
        raise _errors.ApiError(
            422,
            "Invalid",
            'PatchOptions.meta.k8s.io "" is invalid: '
            "fieldManager: Required value: is required for apply patch",
            {
                "group": "meta.k8s.io",
                "kind": "PatchOptions",
                "causes": [
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value: is required for apply patch",
                        "field": "fieldManager",
                    }
                ],
            },
        )


def _bool(value: str | None) -> bool:
    return (value or "").lower() in ("1", "t", "true", "yes")


class Route:
    """What a resource URL addresses."""

    __slots__ = ("name", "namespace", "rt", "subresource", "watch_prefix")

    def __init__(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str | None,
        subresource: str | None,
        watch_prefix: bool,
    ) -> None:
        self.rt = rt
        self.namespace = namespace
        self.name = name
        self.subresource = subresource
        self.watch_prefix = watch_prefix


class Watcher:
    """One open watch: filters store events and queues them for the streaming handler."""

    def __init__(self, rt: ResourceType, namespace: str | None, labels: Any, fields: Any) -> None:
        self.rt = rt
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.queue: asyncio.Queue[tuple[str, Obj] | None] = asyncio.Queue()

    def matches(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        meta = obj["metadata"]
        if self.namespace and meta.get("namespace") != self.namespace:
            return False
        if not self.labels.empty and not self.labels.matches(meta.get("labels")):
            return False
        return self.fields.empty or bool(self.fields.matches(obj))

    def translate(self, ev: Event) -> tuple[str, Obj] | None:
        new_match = ev.type != "DELETED" and self.matches(ev.obj)
        old_match = self.matches(ev.old)
        if ev.type == "ADDED":
            return ("ADDED", ev.obj) if new_match else None
        if ev.type == "DELETED":
            return ("DELETED", ev.obj) if old_match else None
        if new_match and old_match:
            return ("MODIFIED", ev.obj)
        if new_match:
            return ("ADDED", ev.obj)
        if old_match and ev.old is not None:
            # leaving the selection: the last state the watcher was allowed to see, at the new version
            meta = dict(ev.old["metadata"], resourceVersion=ev.obj["metadata"]["resourceVersion"])
            return ("DELETED", dict(ev.old, metadata=meta))
        return None

    def offer(self, ev: Event) -> None:
        item = self.translate(ev)
        if item is not None:
            self.queue.put_nowait(item)


class Server:
    """State and handlers of one emulator instance (used on the server loop only, except logs)."""

    def __init__(self, api: Api, controllers: Controllers, token: str) -> None:
        self.api = api
        self.store = api.store
        self.controllers = controllers
        self.token = token
        self.address = "127.0.0.1:0"
        self.requests: list[RequestRecord] = []
        self.faults: list[Fault] = []
        self.exec_log: list[ExecRecord] = []
        self.exec_replies: list[ExecReply] = []
        #: "node/<name>" and "pod/<ns>/<name>" whose kubelet cannot stream exec/logs
        self.no_stream: set[str] = set()
        self.lock = threading.Lock()
        self.watchers: dict[ResourceType, set[Watcher]] = {}
        self.websockets: set[web.WebSocketResponse] = set()
        self.closing = False
        self.store.listeners.append(self._fan_out)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    # -- bookkeeping ----------------------------------------------------------------------------

    def _fan_out(self, ev: Event) -> None:
        for watcher in self.watchers.get(ev.rt, ()):
            watcher.offer(ev)

    def record(self, request: web.Request, body: Any, status: int, ts: float, verb: str) -> None:
        query: dict[str, Any] = {}
        for k, v in parse_qsl(request.query_string, keep_blank_values=True):
            if k in query:
                prev = query[k]
                query[k] = [*prev, v] if isinstance(prev, list) else [prev, v]
            else:
                query[k] = v
        rec = RequestRecord(
            request.method, request.path, query, body, status, ts, verb, request.headers.get("Content-Type")
        )
        with self.lock:
            self.requests.append(rec)

    def _claim_fault(self, method: str, verb: str, path: str) -> Fault | None:
        with self.lock:
            faults = list(self.faults)
        for fault in faults:
            if fault.claim(method, verb, path):
                return fault
        return None

    def end_watches(self) -> None:
        """Finish every open watch stream (clients see the stream end and re-list)."""
        for watchers in self.watchers.values():
            for w in watchers:
                w.queue.put_nowait(None)

    async def shutdown(self) -> None:
        self.closing = True
        self.end_watches()
        for ws in list(self.websockets):
            with contextlib.suppress(Exception):
                await ws.close()

    # -- entry point ----------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ts = time.time()
        raw = await request.read() if request.can_read_body else b""
        body: Any = None
        body_error = False
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
                body_error = True
        path = request.path
        route: Route | None = None
        resp: web.StreamResponse
        verb = ""
        try:
            route = self._route(path)
            verb = self._verb(request, route)
        except _errors.ApiError:
            route = None
        if path not in UNAUTHENTICATED and request.headers.get("Authorization") != f"Bearer {self.token}":
            resp = _error_response(_errors.unauthorized())
            self.record(request, body, resp.status, ts, verb)
            return resp
        fault = self._claim_fault(request.method, verb, path)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if not fault.after and (fault.drop or fault.status is not None):
                return self._fault_response(request, fault, route, body, ts, verb)
        self.api.warnings = []
        self.api.field_validation = request.query.get("fieldValidation") or "Warn"
        try:
            if route is not None and request.method == "PATCH":
                _check_patch_type(request)
            if body_error and request.method in ("POST", "PUT", "PATCH"):
                raise _errors.bad_request(f"invalid character in request body: {str(body)[:40]!r}")
            if route is None:
                resp = await self._non_resource(request, path)
            else:
                resp = await self._resource(request, route, verb, body, ts)
        except _errors.ApiError as err:
            resp = _error_response(err)
        except Exception as exc:  # an emulator bug must not hang the client
            log.exception("internal error on %s %s", request.method, path)
            resp = _error_response(_errors.internal(f"kube-emulator: {exc!r}"))
        if isinstance(resp, web.WebSocketResponse) or resp.prepared:
            return resp  # already recorded by the streaming handler
        if fault is not None and fault.after and (fault.drop or fault.status is not None):
            return self._fault_response(request, fault, route, body, ts, verb)
        for text in dict.fromkeys(self.api.warnings):
            resp.headers.add("Warning", '299 - "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
        self.record(request, body, resp.status, ts, verb)
        return resp

    def _fault_response(
        self, request: web.Request, fault: Fault, route: Route | None, body: Any, ts: float, verb: str
    ) -> web.Response:
        if fault.drop:
            self.record(request, body, 0, ts, verb)
            transport = request.transport
            if transport is not None:
                transport.abort()
            raise asyncio.CancelledError()
        assert fault.status is not None
        plural = route.rt.plural if route else ""
        group = route.rt.group if route else ""
        err = _errors.for_status(
            fault.status, plural, group, (route.name or "") if route else "", fault.message
        )
        self.record(request, body, fault.status, ts, verb)
        return _error_response(err)

    # -- routing --------------------------------------------------------------------------------

    @staticmethod
    def _route(path: str) -> Route | None:
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] not in ("api", "apis"):
            return None
        if parts[0] == "api":
            if len(parts) < 3:
                return None
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) < 4:
                return None
            group, version, rest = parts[1], parts[2], parts[3:]
        watch_prefix = False
        if rest and rest[0] == "watch":
            watch_prefix = True
            rest = rest[1:]
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise _errors.path_not_found()
        rt = _resources.BY_PLURAL.get((group, rest[0]))
        if rt is None or rt.version != version:
            raise _errors.path_not_found()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and rt.subresource(sub) is None:
            raise _errors.path_not_found()
        if rt.namespaced and name is not None and namespace is None:
            raise _errors.path_not_found()
        return Route(rt, namespace, name, sub, watch_prefix)

    @staticmethod
    def _verb(request: web.Request, route: Route | None) -> str:
        if route is None:
            return ""
        method = request.method
        if route.subresource in ("exec", "attach"):
            return "create"
        if method == "GET":
            if route.watch_prefix or _bool(request.query.get("watch")):
                return "watch"
            return "get" if route.name else "list"
        if method == "POST":
            return "create"
        if method == "PUT":
            return "update"
        if method == "PATCH":
            return "patch"
        if method == "DELETE":
            return "delete" if route.name else "deletecollection"
        return method.lower()

    async def _non_resource(self, request: web.Request, path: str) -> web.Response:
        if request.method != "GET":
            raise _errors.method_not_allowed()
        path = path.rstrip("/") or "/"
        if path in UNAUTHENTICATED:
            return web.Response(text="ok")
        if path == "/version":
            return _json_response(200, VERSION)
        if path == "/api":
            return _json_response(200, _resources.api_versions(self.address))
        if path == "/apis":
            return _json_response(200, _resources.api_group_list())
        parts = path.strip("/").split("/")
        if parts[0] == "apis" and len(parts) == 2:
            doc = _resources.api_group(parts[1])
            if doc is not None:
                return _json_response(200, doc)
        if (parts[0] == "api" and len(parts) == 2) or (parts[0] == "apis" and len(parts) == 3):
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            doc = _resources.resource_list(group, version)
            if doc is not None:
                return _json_response(200, doc)
        if path == "/":
            paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]
            paths += [f"/apis/{g}" for g in _resources.GROUP_VERSIONS if g]
            paths += [f"/apis/{g}/{v}" for g, vs in _resources.GROUP_VERSIONS.items() if g for v in vs]
            return _json_response(200, {"paths": sorted(paths)})
        raise _errors.path_not_found()

    # -- resources ------------------------------------------------------------------------------

    async def _resource(
        self, request: web.Request, route: Route, verb: str, body: Any, ts: float
    ) -> web.StreamResponse:
        rt, sub = route.rt, route.subresource
        if sub in ("exec", "attach"):
            return await self._exec(request, route, body, ts)
        if sub == "log":
            if request.method != "GET":
                raise _errors.method_not_allowed()
            return self._log(route, request.query)
        if verb == "watch":
            return await self._watch(request, route, ts)
        if route.name is None:
            return self._collection(request, route, verb, body)
        if sub is None:
            return self._object(request, route, verb, body)
        if sub in ("status", "finalize"):
            return self._status(request, route, verb, body)
        if sub == "scale" and rt in SCALABLE:
            return self._scale(request, route, verb, body)
        return self._action(request, route, verb, body)

    def _collection(self, request: web.Request, route: Route, verb: str, body: Any) -> web.Response:
        """list, create and deletecollection on a resource type."""
        rt, ns, q = route.rt, route.namespace, request.query
        if route.watch_prefix:
            raise _errors.method_not_allowed()
        if verb == "list":
            self._check_list_version(q)
            listed = self.api.list(
                rt,
                ns,
                label_selector=q.get("labelSelector"),
                field_selector=q.get("fieldSelector"),
                limit=int(q["limit"]) if q.get("limit", "").isdigit() else None,
                continue_token=q.get("continue"),
            )
            if self._wants_table(request):
                items = [{"apiVersion": rt.api_version, "kind": rt.kind, **o} for o in listed["items"]]
                return _json_response(
                    200,
                    _tables.to_table(rt, items, listed["metadata"], q.get("includeObject", "Metadata")),
                )
            return _json_response(200, listed)
        if verb == "create":
            if rt.namespaced and ns is None:
                raise _errors.method_not_allowed()
            return _json_response(201, self.api.create(rt, ns, body, dry_run=_dry_run(q)))
        if verb == "deletecollection":
            if "deletecollection" not in rt.verbs:
                raise _errors.method_not_allowed()
            out = self.api.delete_collection(
                rt,
                ns,
                self._delete_options(q, body),
                label_selector=q.get("labelSelector"),
                field_selector=q.get("fieldSelector"),
                dry_run=_dry_run(q),
            )
            return _json_response(200, out)
        raise _errors.method_not_allowed()

    def _object(self, request: web.Request, route: Route, verb: str, body: Any) -> web.Response:
        """get, update, patch and delete on one object."""
        rt, ns, name, q = route.rt, route.namespace, route.name or "", request.query
        dry_run = _dry_run(q)
        if verb == "get":
            obj = self.api.get(rt, ns, name)
            if self._wants_table(request):
                rv = {"resourceVersion": obj["metadata"]["resourceVersion"]}
                return _json_response(
                    200, _tables.to_table(rt, [obj], rv, q.get("includeObject", "Metadata"))
                )
            return _json_response(200, obj)
        if verb == "update":
            return _json_response(200, self.api.update(rt, ns, name, body, dry_run=dry_run))
        if verb == "patch":
            return _json_response(200, self.api.patch(rt, ns, name, body, _ctype(request), dry_run=dry_run))
        if verb == "delete":
            code, out = self.api.delete(rt, ns, name, self._delete_options(q, body), dry_run=dry_run)
            return _json_response(code, out)
        raise _errors.method_not_allowed()

    def _status(self, request: web.Request, route: Route, verb: str, body: Any) -> web.Response:
        """The ``status`` subresource, and a namespace's ``finalize``."""
        rt, ns, name, dry_run = route.rt, route.namespace, route.name or "", _dry_run(request.query)
        if verb == "get":
            return _json_response(200, self.api.get(rt, ns, name))
        if verb == "update" and route.subresource == "finalize":
            return _json_response(200, self._finalize_namespace(name, body))
        if verb == "update":
            return _json_response(
                200, self.api.update(rt, ns, name, body, subresource="status", dry_run=dry_run)
            )
        if verb == "patch":
            out = self.api.patch(rt, ns, name, body, _ctype(request), subresource="status", dry_run=dry_run)
            return _json_response(200, out)
        raise _errors.method_not_allowed()

    def _scale(self, request: web.Request, route: Route, verb: str, body: Any) -> web.Response:
        """The ``scale`` subresource of Deployments, ReplicaSets and StatefulSets."""
        rt, ns, name, dry_run = route.rt, route.namespace, route.name or "", _dry_run(request.query)
        if verb == "get":
            return _json_response(200, self.api.scale_of(rt, self.api.get(rt, ns, name)))
        if verb == "update":
            return _json_response(200, self.api.update_scale(rt, ns, name, body, dry_run=dry_run))
        if verb == "patch":
            return _json_response(
                200, self.api.patch_scale(rt, ns, name, body, _ctype(request), dry_run=dry_run)
            )
        raise _errors.method_not_allowed()

    def _action(self, request: web.Request, route: Route, verb: str, body: Any) -> web.Response:
        """POSTs to a subresource: a pod's eviction or binding, a ServiceAccount's token."""
        rt, ns, name, sub = route.rt, route.namespace, route.name or "", route.subresource
        if verb == "create" and rt is POD and sub == "eviction":
            assert ns is not None
            return _json_response(201, self.api.evict(ns, name, body, dry_run=_dry_run(request.query)))
        if verb == "create" and rt is POD and sub == "binding":
            assert ns is not None
            return _json_response(201, self.api.bind(ns, name, body))
        if verb == "create" and rt is SERVICEACCOUNT and sub == "token":
            self.api.get(rt, ns, name)
            return _json_response(201, self._token_request(ns or "", name, body))
        raise _errors.method_not_allowed()

    def _check_list_version(self, q: Any) -> None:
        """``resourceVersionMatch=Exact`` from before the compaction point is 410 Expired.

        Lists are always served from the current state (no snapshots of the past are kept).
        """
        rv_text = q.get("resourceVersion", "")
        exact = q.get("resourceVersionMatch") == "Exact" and rv_text.isdigit()
        if exact and int(rv_text) < self.store.compacted_rv:
            raise _errors.expired("The resourceVersion for the provided list is too old.")

    @staticmethod
    def _wants_table(request: web.Request) -> bool:
        return "as=Table" in request.headers.get("Accept", "")

    @staticmethod
    def _delete_options(q: Any, body: Any) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if "gracePeriodSeconds" in q:
            options["gracePeriodSeconds"] = q["gracePeriodSeconds"]
        if "propagationPolicy" in q:
            options["propagationPolicy"] = q["propagationPolicy"]
        if "orphanDependents" in q:
            options["orphanDependents"] = _bool(q["orphanDependents"])
        if isinstance(body, dict):
            for key in ("gracePeriodSeconds", "propagationPolicy", "orphanDependents", "preconditions"):
                if body.get(key) is not None:
                    options[key] = body[key]
        return options

    def _finalize_namespace(self, name: str, body: Any) -> Obj:
        old = self.api.get(NAMESPACE, None, name)
        if not isinstance(body, dict):
            raise _errors.bad_request("the body of the request was not a Namespace")
        new = json.loads(json.dumps(old))
        new.setdefault("spec", {})["finalizers"] = list((body.get("spec") or {}).get("finalizers") or [])
        if not new["spec"]["finalizers"]:
            del new["spec"]["finalizers"]
        return self.api.write(NAMESPACE, new)

    @staticmethod
    def _token_request(namespace: str, name: str, body: Any) -> Obj:
        seconds = int(((body or {}).get("spec") or {}).get("expirationSeconds") or 3600)
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))
        return {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
            "spec": {
                "audiences": ((body or {}).get("spec") or {}).get("audiences")
                or ["https://kubernetes.default.svc"],
                "expirationSeconds": seconds,
                "boundObjectRef": None,
            },
            "status": {"token": f"kube-emulator.{namespace}.{name}", "expirationTimestamp": expires},
        }

    # -- watch ----------------------------------------------------------------------------------

    async def _watch(self, request: web.Request, route: Route, ts: float) -> web.StreamResponse:
        rt = route.rt
        q = request.query
        labels = parse_label_selector(q.get("labelSelector"))
        fields = parse_field_selector(q.get("fieldSelector"), rt.kind)
        if route.name:
            fields.reqs.append(FieldRequirement("metadata.name", False, route.name))
        watcher = Watcher(rt, route.namespace, labels, fields)
        initial, expired = self._watch_start(route, q, watcher)
        self.watchers.setdefault(rt, set()).add(watcher)
        timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds", "").isdigit() else 1800.0
        resp = web.StreamResponse(status=200, headers={"Content-Type": JSON})
        resp.enable_chunked_encoding()
        try:
            await resp.prepare(request)
            self.record(request, None, 200, ts, "watch")
            if expired is not None:
                await resp.write(_dumps({"type": "ERROR", "object": expired.status()}) + b"\n")
                return resp
            if initial:
                await resp.write(b"".join(_dumps({"type": t, "object": o}) + b"\n" for t, o in initial))
            await self._stream_events(resp, watcher, timeout)
            with contextlib.suppress(ConnectionError):
                await resp.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.watchers.get(rt, set()).discard(watcher)
        return resp

    def _watch_start(
        self, route: Route, q: Any, watcher: Watcher
    ) -> tuple[list[tuple[str, Obj]], _errors.ApiError | None]:
        """The events a watch sends first (replayed history or current objects) or its 410 Expired."""
        rt = route.rt
        rv_text = q.get("resourceVersion", "")
        initial: list[tuple[str, Obj]] = []
        if rv_text and rv_text != "0":
            try:
                rv = int(rv_text)
            except ValueError:
                raise _errors.bad_request(f'invalid resource version: "{rv_text}"') from None
            if rv < self.store.compacted_rv:
                return [], _errors.expired(f"too old resource version: {rv} ({self.store.compacted_rv})")
            for ev in self.store.history:
                if ev.rt is rt and ev.rv > rv:
                    item = watcher.translate(ev)
                    if item is not None:
                        initial.append(item)
            return initial, None
        for obj in self.store.sorted(rt, route.namespace):
            if watcher.matches(obj):
                initial.append(("ADDED", obj))
        if _bool(q.get("sendInitialEvents")) and _bool(q.get("allowWatchBookmarks")):
            initial.append(
                (
                    "BOOKMARK",
                    {
                        "kind": rt.kind,
                        "apiVersion": rt.api_version,
                        "metadata": {
                            "resourceVersion": str(self.store.rv),
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    },
                )
            )
        return initial, None

    async def _stream_events(self, resp: web.StreamResponse, watcher: Watcher, timeout: float) -> None:
        """Write the watcher's events as they come, batching what is queued, until timeout or close."""
        deadline = time.monotonic() + timeout
        while not self.closing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                item = await asyncio.wait_for(watcher.queue.get(), remaining)
            except TimeoutError:
                break
            if item is None:
                break
            chunk = [_dumps({"type": item[0], "object": item[1]}) + b"\n"]
            while not watcher.queue.empty():
                nxt = watcher.queue.get_nowait()
                if nxt is None:
                    break
                chunk.append(_dumps({"type": nxt[0], "object": nxt[1]}) + b"\n")
            await resp.write(b"".join(chunk))

    # -- pods/log -------------------------------------------------------------------------------

    def _container_for(self, pod: Obj, requested: str | None) -> str:
        name = pod["metadata"]["name"]
        containers = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
        inits = [c.get("name", "") for c in (pod.get("spec") or {}).get("initContainers") or []]
        if requested:
            if requested not in containers + inits:
                raise _errors.bad_request(f"container {requested} is not valid for pod {name}")
            return requested
        default = (pod["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
        if default in containers:
            return str(default)
        if len(containers) == 1:
            return str(containers[0])
        raise _errors.bad_request(
            f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
        )

    def _log(self, route: Route, q: Any) -> web.Response:
        assert route.name is not None
        pod = self.api.get(POD, route.namespace, route.name)
        container = self._container_for(pod, q.get("container"))
        if not (pod.get("spec") or {}).get("nodeName"):
            return web.Response(status=204)  # nothing to read yet
        if self._cannot_stream(pod):  # the kubelet's 404, relayed
            raise _errors.ApiError(
                404,
                "NotFound",
                f"the server could not find the requested resource ( pods/log {route.name})",
                {"name": route.name, "kind": "pods/log"},
            )
        status = next(
            (
                c
                for c in (pod.get("status") or {}).get("containerStatuses") or []
                if c.get("name") == container
            ),
            None,
        )
        if status is None or "waiting" in (status.get("state") or {}):
            reason = ((status or {}).get("state") or {}).get("waiting", {}).get("reason", "ContainerCreating")
            raise _errors.bad_request(
                f'container "{container}" in pod "{route.name}" is waiting to start: {reason}'
            )
        if _bool(q.get("previous")) and not status.get("restartCount"):
            raise _errors.bad_request(
                f'previous terminated container "{container}" in pod "{route.name}" not found'
            )
        text = self.controllers.pod_log(route.namespace or "", route.name, container)
        if q.get("tailLines", "").isdigit():
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-int(q["tailLines"]) :]) if int(q["tailLines"]) else ""
        if q.get("limitBytes", "").isdigit():
            text = text.encode()[: int(q["limitBytes"])].decode("utf-8", "ignore")
        return web.Response(text=text, content_type="text/plain")

    # -- pods/exec ------------------------------------------------------------------------------

    async def _exec(self, request: web.Request, route: Route, body: Any, ts: float) -> web.StreamResponse:
        assert route.name is not None and route.namespace is not None
        pod = self.api.get(POD, route.namespace, route.name)
        q = request.query
        container = self._container_for(pod, q.get("container"))
        if not (pod.get("spec") or {}).get("nodeName"):
            raise _errors.bad_request(f"pod {route.name} does not have a host assigned")
        if self._cannot_stream(pod):
            if request.headers.get("Upgrade", "").lower() != "websocket":
                raise _errors.bad_request("Upgrade request required")
            return await self._exec_unreachable(request, ts)
        _check_running(pod, container)
        command, streams = _exec_request(request)
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"), autoping=True)
        await ws.prepare(request)
        self.record(request, None, 101, ts, "create")
        self.websockets.add(ws)
        try:
            await self._run_exec(ws, route, container, command, streams, ts)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.websockets.discard(ws)
        return ws

    async def _run_exec(
        self,
        ws: web.WebSocketResponse,
        route: Route,
        container: str,
        command: list[str],
        streams: _ExecStreams,
        ts: float,
    ) -> None:
        """Read stdin, log the exec, apply a kill command to the container, send output and exit status."""
        assert route.name is not None and route.namespace is not None
        stdin = ""
        if streams.stdin:
            stdin = await self._read_stdin(ws)
        reply = self._reply_for(command)
        record = ExecRecord(route.namespace, route.name, container, list(command), stdin, ts)
        with self.lock:
            self.exec_log.append(record)
        signal = _kill_signal(command)
        if signal is not None and reply.exit_code == 0:
            self.controllers.kill_container(route.namespace, route.name, container, 128 + signal)
        out, err = reply.stdout, reply.stderr
        if streams.tty:
            out, err = out + err, ""
        if out and streams.stdout:
            await ws.send_bytes(b"\x01" + out.encode())
        if err and (streams.stderr or streams.tty):
            await ws.send_bytes(b"\x02" + err.encode())
        await ws.send_bytes(b"\x03" + _dumps(_exit_status(command, reply.exit_code)))
        await ws.close()

    def _cannot_stream(self, pod: Obj) -> bool:
        meta = pod["metadata"]
        keys = (
            f"node/{(pod.get('spec') or {}).get('nodeName')}",
            f"pod/{meta.get('namespace')}/{meta['name']}",
        )
        with self.lock:
            return any(k in self.no_stream for k in keys)

    async def _exec_unreachable(self, request: web.Request, ts: float) -> web.WebSocketResponse:
        """A node without a streaming kubelet: the apiserver upgrades, then reports the failure."""
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"), autoping=True)
        await ws.prepare(request)
        self.record(request, None, 101, ts, "create")
        err = _errors.internal("unable to upgrade connection: empty server response")
        with contextlib.suppress(ConnectionError):
            await ws.send_bytes(b"\x01")
            # the error channel carries a Status without kind/apiVersion
            status = {k: v for k, v in err.status().items() if k not in ("kind", "apiVersion")}
            await ws.send_bytes(b"\x03" + _dumps(status))
            await ws.close()
        return ws

    async def _read_stdin(self, ws: web.WebSocketResponse) -> str:
        """Collect stdin until the client closes it (v5 close signal), disconnects, or goes idle."""
        chunks: list[bytes] = []
        while True:
            try:
                msg = await ws.receive(timeout=1.0)
            except TimeoutError:
                break
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                break
            data = msg.data if isinstance(msg.data, bytes) else str(msg.data).encode()
            if not data:
                continue
            if data[0] == 255:  # v5: close channel <data[1]>
                if len(data) > 1 and data[1] == 0:
                    break
                continue
            if data[0] == 0:
                chunks.append(data[1:])
        return b"".join(chunks).decode("utf-8", "replace")

    def _reply_for(self, command: list[str]) -> ExecReply:
        joined = shlex.join(command)
        plain = " ".join(command)
        with self.lock:
            replies = list(reversed(self.exec_replies))
        for reply in replies:
            if reply.pattern.search(joined) or reply.pattern.search(plain):
                return reply
        return ExecReply(re.compile(""), "", "", 0)


def _exit_status(command: list[str], code: int) -> dict[str, Any]:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            f"command terminated with non-zero exit code: error executing command {command}, exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


_KILL_RE = re.compile(r"(?:^|[;&|(\s])(kill|pkill|killall)\b((?:\s+[^;&|]*)?)")


class _ExecStreams(NamedTuple):
    """Which streams an exec asked for."""

    stdout: bool
    stderr: bool
    stdin: bool
    tty: bool


def _check_running(pod: Obj, container: str) -> None:
    """400 unless the pod runs and ``container`` in it is running."""
    status = next(
        (c for c in (pod.get("status") or {}).get("containerStatuses") or [] if c.get("name") == container),
        None,
    )
    if (
        (pod.get("status") or {}).get("phase") != "Running"
        or status is None
        or "running" not in (status.get("state") or {})
    ):
        raise _errors.bad_request(f'unable to upgrade connection: container not found ("{container}")')


def _exec_request(request: web.Request) -> tuple[list[str], _ExecStreams]:
    """The command and streams of an exec request, checked as the apiserver checks them."""
    q = request.query
    command = q.getall("command", [])
    if not command:
        raise _errors.bad_request("you must specify at least one command for the container")
    streams = _ExecStreams(
        stdout=_bool(q.get("stdout")),
        stderr=_bool(q.get("stderr")),
        stdin=_bool(q.get("stdin")),
        tty=_bool(q.get("tty")),
    )
    if not (streams.stdout or streams.stderr or streams.stdin):
        raise _errors.bad_request("you must specify at least 1 of stdin, stdout, stderr")
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise _errors.bad_request("Upgrade request required")
    return list(command), streams


def _kill_signal(command: list[str]) -> int | None:
    """The signal a ``kill``-like command sends (None when it is not one, or ``kill -0``)."""
    argv = list(command)
    if not argv:
        return None
    words: list[list[str]] = []
    base = argv[0].rsplit("/", 1)[-1]
    if base in ("sh", "bash", "ash", "dash", "zsh", "busybox") and "-c" in argv:
        script = argv[argv.index("-c") + 1] if argv.index("-c") + 1 < len(argv) else ""
        for m in _KILL_RE.finditer(script):
            try:
                words.append([m.group(1), *shlex.split(m.group(2))])
            except ValueError:
                words.append([m.group(1), *m.group(2).split()])
    elif base in ("kill", "pkill", "killall"):
        words.append([base, *argv[1:]])
    for word in words:
        signal: int | None = 15
        args = word[1:]
        i = 0
        while i < len(args):
            arg = args[i]
            if arg in ("-s", "--signal") and i + 1 < len(args):
                signal = _signal_number(args[i + 1])
                i += 2
                continue
            if arg.startswith("-") and len(arg) > 1 and arg[1:].lstrip("-") and not arg.startswith("--"):
                value = _signal_number(arg[1:])
                if value is not None:
                    signal = value
            i += 1
        if signal:
            return signal
    return None


def _signal_number(text: str) -> int | None:
    text = text.upper()
    if text.isdigit():
        return int(text)
    text = text.removeprefix("SIG")
    return SIGNALS.get(text)
