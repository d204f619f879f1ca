"""Scenario files are rendered in Jinja's sandbox, also when the DAG renders native objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jinja2.exceptions import SecurityError

from krkn_airflow_provider.operators.templating import sandboxed_env
from tests.airflow.conftest import run_dag, task_states

ESCAPES = [
    "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ lipsum.__globals__['os'].popen('touch MARKER').read() }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ namespace.__init__.__globals__ }}",
]


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("template", ESCAPES)
def test_escapes_are_refused(
    template: str, native: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = sandboxed_env(None, native=native)
    with pytest.raises(SecurityError):
        env.from_string(template).render({})
    assert not (tmp_path / "MARKER").exists()


def test_native_rendering_keeps_types() -> None:
    env = sandboxed_env(None, native=True)
    value = env.from_string("{{ config }}").render({"config": {"kill": 2, "names": ["a"]}})
    assert value == {"kill": 2, "names": ["a"]}


@pytest.mark.usefixtures("airflow_db", "k8s_conn")
def test_escaping_scenario_file_fails_the_task_and_runs_nothing(
    dagbag: Any, kube: Any, journal_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "escaped"
    if kube.emulator is not None:
        kube.emulator.clear_requests()
    dag_run = run_dag(dagbag, "krkn_template_escape", {"marker": str(marker)})

    assert dag_run.state == "failed"
    assert task_states(dag_run) == {"chaos": "failed"}
    assert not marker.exists()
    out, err = capfd.readouterr()
    assert "refused by the Jinja sandbox" in out + err
    assert not journal_dir.exists() or not list(journal_dir.rglob("*.py"))
    if kube.emulator is not None:
        assert kube.emulator.writes() == []
