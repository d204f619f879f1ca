"""Steady-state probes for the triggerer: the same checks as ``scenarios.probes``, async.

A deferred hold runs in the triggerer's event loop, where a blocking call stalls every
other trigger. HTTP and Prometheus probes go through ``aiohttp``; pod probes through the
cncf.kubernetes provider's ``AsyncKubernetesHook``. What a result means (status codes,
the Prometheus "holds" rule, what counts as ready) comes from ``scenarios``, so both
paths judge a probe alike.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

import aiohttp

from krkn_airflow_provider.scenarios import kube
from krkn_airflow_provider.scenarios.probes import (
    HttpProbe,
    PodsProbe,
    ProbeResult,
    PrometheusProbe,
    prometheus_holds,
)

Spec = PodsProbe | HttpProbe | PrometheusProbe


async def _check_http(spec: HttpProbe, session: aiohttp.ClientSession) -> tuple[bool, str]:
    try:
        async with session.request(
            spec.method, spec.url, timeout=aiohttp.ClientTimeout(total=spec.timeout)
        ) as response:
            status = response.status
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        return False, f"no answer: {error or type(error).__name__}"
    return status == spec.expected_status, f"status {status} (expected {spec.expected_status})"


async def _check_prometheus(spec: PrometheusProbe, session: aiohttp.ClientSession) -> tuple[bool, str]:
    if not spec.url:
        return False, "no Prometheus URL (set url or http_conn_id)"
    endpoint = spec.url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": spec.query})
    try:
        async with session.get(endpoint, timeout=aiohttp.ClientTimeout(total=spec.timeout)) as response:
            body = await response.read()
            status = response.status
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        return False, f"no answer: {error or type(error).__name__}"
    try:
        payload = json.loads(body)
    except ValueError:
        return False, f"status {status}"
    return prometheus_holds(payload if isinstance(payload, dict) else {})


async def _check_pods(spec: PodsProbe, kubernetes_conn_id: str) -> tuple[bool, str]:
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import AsyncKubernetesHook
    from kubernetes_asyncio import client as async_client

    hook = AsyncKubernetesHook(conn_id=kubernetes_conn_id)
    try:
        async with hook.get_conn() as api:
            core: Any = async_client.CoreV1Api(api)
            query: dict[str, Any] = {"label_selector": spec.label_selector} if spec.label_selector else {}
            response = await core.list_namespaced_pod(spec.namespace, _preload_content=False, **query)
            payload = await response.json()
    except Exception as error:  # an unreachable API is a probe that does not hold
        return False, f"cannot list pods: {error}"
    pods = payload.get("items") or [] if isinstance(payload, dict) else []
    ready = sum(1 for pod in pods if kube.pod_ready(pod))
    return ready >= spec.min_ready, f"{ready} ready of {len(pods)} (need {spec.min_ready})"


async def check_all(specs: list[Spec], *, kubernetes_conn_id: str, phase: str) -> list[ProbeResult]:
    """Run every probe once; a probe that does not hold is a result, never an exception."""
    results = []
    async with aiohttp.ClientSession() as session:
        for spec in specs:
            started = time.monotonic()
            if isinstance(spec, PodsProbe):
                ok, message = await _check_pods(spec, kubernetes_conn_id)
            elif isinstance(spec, HttpProbe):
                ok, message = await _check_http(spec, session)
            else:
                ok, message = await _check_prometheus(spec, session)
            seconds = time.monotonic() - started
            results.append(ProbeResult(spec.title(), spec.type, phase, ok, message, seconds=seconds))
    return results


def results_payload(results: list[ProbeResult]) -> list[dict[str, Any]]:
    return [result.to_dict() for result in results]
