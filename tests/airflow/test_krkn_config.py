"""A Krkn ``config.yaml`` as a DAG: order, waits, iterations, refused types, ignored keys."""

from __future__ import annotations

import itertools
import logging
import textwrap
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.errors import ConfigError
from krkn_airflow_provider.rollback import Store
from tests import workloads
from tests.airflow.conftest import TEST_KEY, run_dag, task_states, xcom
from tests.scenarios import catalogue_support as support

TYPES = [
    "pod_disruption",
    "app_outage",
    "cpu_hog",
    "service_hijacking",
    "syn_flood",
]
CHAOS = [f"{name}_{iteration}" for iteration in (1, 2) for name in TYPES]


def expected_chain() -> list[str]:
    order: list[str] = []
    for task_id in CHAOS:
        if order:
            order.append(f"wait_before_{task_id}")
        order.append(task_id)
    return order


def test_structure_follows_the_config(dagbag: Any) -> None:
    dag = dagbag.get_dag("krkn_config_compat")
    assert dag.max_active_runs == 1
    chain = expected_chain()
    assert {task.task_id for task in dag.tasks} == {*chain, "rollback", "watcher"}
    for before, after in itertools.pairwise(chain):
        assert dag.get_task(after).upstream_task_ids == {before}, after
    assert [dag.get_task(f"wait_before_{t}").seconds for t in CHAOS[1:]] == [1.0] * 9
    assert dag.get_task("cpu_hog_2").scenario_type == "hog_scenarios"
    # `../scenarios/...` in the config resolves next to the config folder.
    # `../scenarios/...` in the config resolves next to the config folder; the name is
    # relative to the DAG file's folder, where Airflow looks first.
    assert dag.get_task("syn_flood_1").scenario_file_name == "krkn_compat/scenarios/syn_flood.yaml"
    assert dag.template_searchpath is None


@pytest.mark.usefixtures("airflow_db", "k8s_conn")
def test_five_types_run_end_to_end_in_krkn_order(dagbag: Any, kube: Any, journal_dir: Path) -> None:
    api = kube.api_client()
    workloads.deploy(api, kube.namespace, "web", replicas=2)
    workloads.wait_ready(api, kube.namespace, "web", 2)
    support.create(kube, support.service("web", {"app": "web"}, target_port="http"))

    dag_run = run_dag(dagbag, "krkn_config_compat", {"namespace": kube.namespace, "app": "web"})

    states = task_states(dag_run)
    assert dag_run.state == "success", states
    assert states == {
        **dict.fromkeys(expected_chain(), "success"),
        "rollback": "skipped",
        "watcher": "success",
    }
    from airflow import settings
    from airflow.models.taskinstance import TaskInstance

    session = settings.Session()
    tis = session.query(TaskInstance).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).all()
    started = sorted((ti.start_date, ti.task_id) for ti in tis if ti.task_id not in ("rollback", "watcher"))
    assert [task_id for _, task_id in started] == expected_chain()
    assert all(xcom(dag_run, f"wait_before_{t}") == 1.0 for t in CHAOS[1:])
    # Every record every chaos task wrote was undone by its own cleanup.
    store = Store(str(journal_dir), hmac_key=TEST_KEY)
    entries = store.entries()
    assert entries and {entry.state for entry in entries} == {"executed"}
    writers = {store.load(entry).data["origin"]["task_id"] for entry in entries}
    assert writers == {t for t in CHAOS if not t.startswith("pod_disruption")}
    assert workloads.managed(api, kube.namespace) == []
    assert support.get(kube, "v1", "Service", "web")["spec"]["selector"] == {"app": "web"}  # type: ignore[index]


def write_config(folder: Path, body: str) -> Path:
    (folder / "scenarios").mkdir(parents=True, exist_ok=True)
    (folder / "scenarios" / "hog.yaml").write_text("duration: 1\nhog-type: cpu\nnamespace: default\n")
    (folder / "scenarios" / "zone.yaml").write_text("zone_outage: {cloud_type: aws}\n")
    path = folder / "config.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def test_unsupported_type_is_an_import_error_naming_it(tmp_path: Path, airflow_db: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    folder = tmp_path / "dags"
    write_config(
        folder,
        """\
        kraken:
            chaos_scenarios:
                - hog_scenarios:
                    - scenarios/hog.yaml
                - zone_outages_scenarios:
                    - scenarios/zone.yaml
        """,
    )
    (folder / "gameday.py").write_text(
        "from pathlib import Path\n"
        "from krkn_airflow_provider.operators import dag_from_krkn_config\n"
        "dag = dag_from_krkn_config(Path(__file__).parent / 'config.yaml', dag_id='zones')\n"
    )
    bag = DagBag(dag_folder=str(folder))
    assert bag.dag_ids == []
    (error,) = bag.import_errors.values()
    assert "scenario type 'zone_outages_scenarios' (file scenarios/zone.yaml) is not supported" in error


def test_unused_keys_are_listed_once_and_nothing_is_read_from_a_cluster(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    from krkn_airflow_provider.operators import dag_from_krkn_config

    def tripwire(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a connection was read while parsing")

    monkeypatch.setattr(KubernetesHook, "get_connection", classmethod(tripwire))
    path = write_config(
        tmp_path,
        """\
        kraken:
            kubeconfig_path: /nowhere/kubeconfig
            signal_state: RUN
            chaos_scenarios:
                - hog_scenarios:
                    - scenarios/hog.yaml
                    - scenarios/hog.yaml
        cerberus: {cerberus_enabled: False}
        performance_monitoring: {enable_alerts: False}
        elastic: {enable_elastic: False}
        telemetry: {enabled: False}
        tunings: {wait_duration: 5, iterations: 3, daemon_mode: False}
        """,
    )
    with caplog.at_level(logging.INFO, logger="krkn_airflow_provider.operators.krkn_config"):
        dag = dag_from_krkn_config(path, dag_id="keys")
    lines = [r.getMessage() for r in caplog.records if "not used" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].endswith(
        "keys not used by krkn-airflow-provider (ignored): cerberus, performance_monitoring, "
        "elastic, telemetry, kraken.signal_state"
    )
    chaos = [t.task_id for t in dag.tasks if t.task_id.startswith("hog")]
    assert len(chaos) == 6  # two files, three iterations
    # Files outside the DAG file's folder are found through the config's folder.
    assert dag.template_searchpath == [str(tmp_path)]
    assert dag.get_task("hog_1").scenario_file_name == "scenarios/hog.yaml"
    assert {"hog_1", "hog_1_2", "hog_3", "hog_3_2"} <= set(chaos)


def test_daemon_mode_is_one_iteration_per_run_back_to_back(tmp_path: Path) -> None:
    from krkn_airflow_provider.operators import dag_from_krkn_config

    path = write_config(
        tmp_path,
        """\
        kraken:
            chaos_scenarios:
                - hog_scenarios: [scenarios/hog.yaml]
        tunings: {wait_duration: 0, iterations: 4, daemon_mode: True}
        """,
    )
    dag = dag_from_krkn_config(path, dag_id="daemon")
    assert type(dag.timetable).__name__ == "ContinuousTimetable"
    assert dag.max_active_runs == 1
    assert {t.task_id for t in dag.tasks} == {"hog", "rollback", "watcher"}


def test_bad_configs_name_the_key_or_file(tmp_path: Path) -> None:
    from krkn_airflow_provider.operators import read_krkn_config

    path = write_config(
        tmp_path, "kraken:\n    chaos_scenarios:\n        - hog_scenarios: [scenarios/nope.yaml]\n"
    )
    with pytest.raises(ConfigError, match=r"scenario file scenarios/nope.yaml \(hog_scenarios\) not found"):
        read_krkn_config(path)
    path.write_text("tunings: {iterations: 2}\n")
    with pytest.raises(ConfigError, match=r"kraken\.chaos_scenarios` is missing"):
        read_krkn_config(path)
    path.write_text(
        "kraken:\n  chaos_scenarios: [{hog_scenarios: [scenarios/hog.yaml]}]\ntunings: {iterations: 0}\n"
    )
    with pytest.raises(ConfigError, match=r"tunings\.iterations must be a whole number"):
        read_krkn_config(path)


def test_a_wait_stops_when_the_task_is_killed() -> None:
    import threading

    from airflow.sdk.exceptions import AirflowException

    from krkn_airflow_provider.operators import ChaosWaitOperator

    wait = ChaosWaitOperator(task_id="wait", seconds=3600)
    outcome: list[BaseException | float] = []

    def run() -> None:
        try:
            outcome.append(wait.execute({}))  # type: ignore[arg-type]
        except AirflowException as error:
            outcome.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    wait.on_kill()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert isinstance(outcome[0], AirflowException) and "interrupted" in str(outcome[0])
