"""Steady-state probes: what must hold before, during and after a chaos scenario.

Three kinds, declared per task as plain dicts (validated here)::

    {"type": "pods", "namespace": "shop", "label_selector": "app=web", "min_ready": 2}
    {"type": "http", "url": "http://web.shop/healthz", "expected_status": 200, "timeout": 5}
    {"type": "prometheus", "url": "http://prometheus:9090", "query": "up{job='web'} == 1"}

A Prometheus expression *holds* when the instant query returns at least one sample and
no sample is 0 or NaN (the alerting convention: a comparison that is false returns
nothing). The Airflow operator resolves ``http_conn_id`` to ``url`` before the probe
layer sees it. No Airflow here.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from krkn_airflow_provider.errors import ConfigError, ScenarioError
from krkn_airflow_provider.scenarios import kube


class ProbeFailed(ScenarioError):
    """A steady-state probe did not hold; the scenario stops and undoes what it did."""


def display_url(url: str) -> str:
    """``url`` without user info and query string, for logs and reports (they may hold secrets)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    query = "?…" if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", "")) + query


class _ProbeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""


class PodsProbe(_ProbeSpec):
    """At least ``min_ready`` ready pods match ``label_selector`` in ``namespace``."""

    type: Literal["pods"]
    namespace: str = Field(min_length=1)
    label_selector: str = ""
    min_ready: int = Field(1, ge=0)

    def title(self) -> str:
        return self.name or f"pods {self.namespace}/{self.label_selector or '*'} ready >= {self.min_ready}"


class HttpProbe(_ProbeSpec):
    """``GET url`` answers ``expected_status`` within ``timeout`` seconds."""

    type: Literal["http"]
    url: str = Field(min_length=1)
    expected_status: int = Field(200, ge=100, le=599)
    timeout: float = Field(5.0, gt=0)
    method: Literal["GET", "HEAD"] = "GET"

    def title(self) -> str:
        return self.name or f"http {self.method} {display_url(self.url)} == {self.expected_status}"


class PrometheusProbe(_ProbeSpec):
    """The PromQL ``query`` holds on the server at ``url`` (``http_conn_id`` in Airflow)."""

    type: Literal["prometheus"]
    query: str = Field(min_length=1)
    url: str = ""
    http_conn_id: str = ""
    timeout: float = Field(5.0, gt=0)

    def title(self) -> str:
        return self.name or f"promql {self.query}"


ProbeSpec = Annotated[PodsProbe | HttpProbe | PrometheusProbe, Field(discriminator="type")]
_SPECS: TypeAdapter[list[ProbeSpec]] = TypeAdapter(list[ProbeSpec])


def parse_probes(data: Any, *, source: str = "probes") -> list[PodsProbe | HttpProbe | PrometheusProbe]:
    """Validate a list of probe dicts; raise ``ConfigError`` naming the bad entry."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise ConfigError(f"{source}: expected a list of probes, got {type(data).__name__}")
    try:
        return list(_SPECS.validate_python(data))
    except ValidationError as error:
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"])
            problems.append(f"{where}: {item['msg']}")
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None


@dataclass
class ProbeResult:
    """One check of one probe."""

    probe: str
    type: str
    phase: str
    ok: bool
    message: str
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "probe": self.probe,
            "type": self.type,
            "phase": self.phase,
            "ok": self.ok,
            "message": self.message,
            "at": self.at,
            "seconds": round(self.seconds, 4),
        }


def _check_pods(spec: PodsProbe, client: Any) -> tuple[bool, str]:
    query: dict[str, Any] = {"namespace": spec.namespace}
    if spec.label_selector:
        query["label_selector"] = spec.label_selector
    pods = kube.items(client, "v1", "Pod", **query)
    ready = sum(1 for pod in pods if kube.pod_ready(pod))
    return ready >= spec.min_ready, f"{ready} ready of {len(pods)} (need {spec.min_ready})"


def _check_http(spec: HttpProbe) -> tuple[bool, str]:
    request = urllib.request.Request(spec.url, method=spec.method)
    try:
        with urllib.request.urlopen(request, timeout=spec.timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as error:
        status = int(error.code)
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        reason = getattr(error, "reason", error)
        return False, f"no answer: {reason}"
    return status == spec.expected_status, f"status {status} (expected {spec.expected_status})"


def prometheus_holds(payload: dict[str, Any]) -> tuple[bool, str]:
    """Whether an instant-query answer says the expression holds, and why."""
    if payload.get("status") != "success":
        return False, f"query failed: {payload.get('error') or payload.get('status')}"
    data = payload.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    values: list[float] = []
    if kind in ("scalar", "string") and isinstance(result, list) and len(result) == 2:
        values = [_number(result[1])]
    elif kind == "vector" and isinstance(result, list):
        values = [_number((sample.get("value") or [0, "nan"])[1]) for sample in result]
    else:
        return False, f"unsupported result type {kind!r}"
    if not values:
        return False, "no samples: the expression does not hold"
    bad = [value for value in values if value == 0 or math.isnan(value)]
    if bad:
        return False, f"{len(bad)} of {len(values)} sample(s) are 0 or NaN"
    return True, f"{len(values)} sample(s), all non-zero"


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _check_prometheus(spec: PrometheusProbe) -> tuple[bool, str]:
    if not spec.url:
        raise ConfigError(f"probe {spec.title()!r}: no Prometheus URL (set url or http_conn_id)")
    endpoint = spec.url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": spec.query})
    try:
        with urllib.request.urlopen(endpoint, timeout=spec.timeout) as response:
            payload = json.loads(response.read())
    except urllib.error.HTTPError as error:
        try:
            payload = json.loads(error.read())
        except ValueError:
            return False, f"status {error.code}"
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as error:
        return False, f"no answer: {getattr(error, 'reason', error)}"
    return prometheus_holds(payload if isinstance(payload, dict) else {})


def check(spec: PodsProbe | HttpProbe | PrometheusProbe, client: Any, *, phase: str) -> ProbeResult:
    """Run one probe once; never raises for a probe that does not hold (only for bad config)."""
    started = time.monotonic()
    try:
        if isinstance(spec, PodsProbe):
            ok, message = _check_pods(spec, client)
        elif isinstance(spec, HttpProbe):
            ok, message = _check_http(spec)
        else:
            ok, message = _check_prometheus(spec)
    except ScenarioError as error:
        ok, message = False, str(error)
    return ProbeResult(spec.title(), spec.type, phase, ok, message, seconds=time.monotonic() - started)


def check_all(
    specs: list[PodsProbe | HttpProbe | PrometheusProbe], client: Any, *, phase: str
) -> list[ProbeResult]:
    return [check(spec, client, phase=phase) for spec in specs]
