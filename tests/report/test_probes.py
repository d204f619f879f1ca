"""Steady-state probes against real HTTP servers: a separate process whose answer flips,
and a Prometheus-compatible query endpoint."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from krkn_airflow_provider.errors import ConfigError
from krkn_airflow_provider.rollback import Journal, Origin, Store, new_run_uuid
from krkn_airflow_provider.scenarios import Plan, ScenarioContext
from krkn_airflow_provider.scenarios.observe import Observer
from krkn_airflow_provider.scenarios.probes import (
    HttpProbe,
    ProbeFailed,
    PrometheusProbe,
    check,
    parse_probes,
    prometheus_holds,
)
from tests.probe_servers import FlipServer, Prometheus


def test_parse_probes() -> None:
    probes = parse_probes(
        [
            {"type": "pods", "namespace": "shop", "label_selector": "app=web", "min_ready": 2},
            {"type": "http", "url": "http://web/healthz", "expected_status": 204},
            {"type": "prometheus", "http_conn_id": "prom", "query": "up == 1"},
        ]
    )
    assert [probe.type for probe in probes] == ["pods", "http", "prometheus"]
    assert probes[0].title() == "pods shop/app=web ready >= 2"
    secret = HttpProbe(type="http", url="https://bot:s3cret@web.shop:8443/healthz?token=abc")
    assert secret.title() == "http GET https://web.shop:8443/healthz?… == 200"
    with pytest.raises(ConfigError, match=r"probes: 0.http.url: Field required"):
        parse_probes([{"type": "http"}])
    with pytest.raises(ConfigError, match="does not match any of the expected tags"):
        parse_probes([{"type": "ping"}])
    with pytest.raises(ConfigError, match="expected a list"):
        parse_probes({"type": "http"})


def test_http_probe_follows_the_server(flip_server: FlipServer) -> None:
    probe = HttpProbe(type="http", url=flip_server.url, timeout=2)
    assert check(probe, None, phase="before").ok
    flip_server.answer(503)
    result = check(probe, None, phase="hold")
    assert (result.ok, result.message) == (False, "status 503 (expected 200)")
    unreachable = HttpProbe(type="http", url="http://127.0.0.1:9/", timeout=1)
    assert check(unreachable, None, phase="hold").message.startswith("no answer")


def test_prometheus_probe(prometheus: Prometheus) -> None:
    query = 'up{job="web"} == 1'
    probe = PrometheusProbe(type="prometheus", url=prometheus.url, query=query)
    prometheus.series[query] = [1.0, 1.0]
    assert check(probe, None, phase="before").ok
    prometheus.series[query] = []
    assert check(probe, None, phase="hold").message == "no samples: the expression does not hold"
    prometheus.series[query] = [1.0, 0.0]
    assert not check(probe, None, phase="hold").ok
    assert prometheus.queries == [query] * 3
    bad = PrometheusProbe(type="prometheus", url=prometheus.url, query="nonsense(")
    assert check(bad, None, phase="hold").message == "query failed: unknown"


def test_prometheus_answers() -> None:
    assert prometheus_holds({"status": "success", "data": {"resultType": "scalar", "result": [0, "1"]}})[0]
    zero = {"status": "success", "data": {"resultType": "scalar", "result": [0, "0"]}}
    assert not prometheus_holds(zero)[0]
    nan = {"status": "success", "data": {"resultType": "vector", "result": [{"value": [0, "NaN"]}]}}
    assert not prometheus_holds(nan)[0]


def ctx_for(tmp_path: Path, observer: Observer) -> ScenarioContext:
    store = Store(str(tmp_path / "rollback"))
    journal = Journal(store, Origin(run_uuid=new_run_uuid(), scenario="application_outages_scenarios"))
    return ScenarioContext(client=None, journal=journal, observer=observer, poll_interval=0.05)


def test_a_probe_failing_before_injection_stops_all(tmp_path: Path, flip_server: FlipServer) -> None:
    flip_server.answer(500)
    observer = Observer([HttpProbe(type="http", url=flip_server.url)], interval=0.1)
    with pytest.raises(ProbeFailed, match="before injection, nothing was changed"):
        observer.before_inject(ctx_for(tmp_path, observer), 0, Plan(()))


def test_a_probe_that_fails_during_the_hold_ends_the_wait(tmp_path: Path, flip_server: FlipServer) -> None:
    observer = Observer([HttpProbe(type="http", url=flip_server.url)], interval=0.1, recovery_timeout=5)
    ctx = ctx_for(tmp_path, observer)
    observer.before_inject(ctx, 0, Plan(()))
    observer.after_inject(ctx, 0)
    started = time.monotonic()
    flip_server.answer(503)
    with pytest.raises(ProbeFailed, match=r"steady state lost during the hold: .*503"):
        ctx.wait(30, "hold")
    assert time.monotonic() - started < 5
    assert (observer.results[0].phase, observer.results[0].ok) == ("before", True)
    assert observer.results[-1].phase == "hold" and not observer.results[-1].ok


def test_probes_passing_again_is_measured(tmp_path: Path, flip_server: FlipServer) -> None:
    observer = Observer([HttpProbe(type="http", url=flip_server.url)], interval=0.1, recovery_timeout=10)
    ctx = ctx_for(tmp_path, observer)
    observer.before_inject(ctx, 0, Plan(()))
    observer.after_inject(ctx, 0)
    flip_server.answer(503)
    observer.before_cleanup(ctx, 0)
    time.sleep(0.5)
    flip_server.answer(200)
    observer.after_recover(ctx, 0, 0.1)
    (recovery,) = observer.recovery()
    assert 0.5 <= recovery["probes_passing_seconds"] < 3
    assert recovery["first_replacement_seconds"] is None


def test_probes_not_back_in_time_fail(tmp_path: Path, flip_server: FlipServer) -> None:
    observer = Observer([HttpProbe(type="http", url=flip_server.url)], interval=0.1, recovery_timeout=0.5)
    ctx = ctx_for(tmp_path, observer)
    observer.before_inject(ctx, 0, Plan(()))
    observer.after_inject(ctx, 0)
    flip_server.answer(502)
    with pytest.raises(ProbeFailed, match=r"not back within 0\.5 s"):
        observer.after_recover(ctx, 0, 0.1)
