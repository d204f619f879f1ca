"""Public value types: request and exec records, faults, exec replies."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

#: HTTP methods; a fault's ``method`` that is not one of these is matched against the verb
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
READ_VERBS = frozenset({"get", "list", "watch", ""})


@dataclass(frozen=True)
class RequestRecord:
    """One request the emulator answered.

    :param method: HTTP method.
    :param path: URL path without the query string.
    :param query: query parameters; a repeated parameter (``command``) maps to a list.
    :param body: parsed JSON body, the raw text if it was not JSON, or None.
    :param status: HTTP status sent (101 for an exec upgrade, 0 when a fault dropped the connection).
    :param ts: ``time.time()`` when the request arrived.
    :param verb: Kubernetes verb: ``get``, ``list``, ``watch``, ``create``, ``update``, ``patch``,
        ``delete``, ``deletecollection``; ``""`` for discovery and other non-resource paths.
    :param content_type: the request's Content-Type (tells merge from strategic merge patches).
    """

    method: str
    path: str
    query: dict[str, Any]
    body: Any | None
    status: int
    ts: float
    verb: str = ""
    content_type: str | None = None

    @property
    def is_write(self) -> bool:
        return self.verb not in READ_VERBS


@dataclass(frozen=True)
class ExecRecord:
    """One ``pods/exec`` command the emulator ran."""

    namespace: str
    pod: str
    container: str
    command: list[str]
    stdin: str = ""
    ts: float = 0.0


@dataclass(frozen=True)
class ExecReply:
    """A registered reply for commands matching ``pattern`` (``re.search`` on the joined command)."""

    pattern: re.Pattern[str]
    stdout: str
    stderr: str
    exit_code: int


_lock = threading.Lock()


@dataclass(eq=False)
class Fault:
    """An injected fault. ``seen`` counts matching requests, ``hits`` the ones that got the fault."""

    method: str | None
    path_regex: str
    status: int | None
    delay: float
    drop: bool
    times: int | None
    skip: int
    after: bool = False
    message: str | None = None
    seen: int = 0
    hits: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path_regex)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def matches(self, method: str, verb: str, path: str) -> bool:
        if self.method is not None:
            wanted = self.method.upper()
            if wanted in HTTP_METHODS:
                if wanted != method.upper():
                    return False
            elif self.method.lower() != verb:
                return False
        return self._pattern.search(path) is not None

    def claim(self, method: str, verb: str, path: str) -> bool:
        """Count a matching request; True when this one gets the fault."""
        with _lock:
            if self.exhausted or not self.matches(method, verb, path):
                return False
            self.seen += 1
            if self.seen <= self.skip:
                return False
            self.hits += 1
            return True
