"""Real Airflow for the tests: a throwaway AIRFLOW_HOME, SQLite, and a DAGs folder.

The environment is set when this file is imported, before anything imports Airflow.
The DAGs folder holds the project's example DAGs (``dags/``) and the test DAGs
(``tests/airflow/dags/``), so ``dag.test()`` runs both from files as Airflow requires.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOME = Path(tempfile.mkdtemp(prefix="krkn-airflow-home-"))
DAGS = HOME / "dags"

shutil.copytree(ROOT / "dags", DAGS, ignore=shutil.ignore_patterns("__pycache__"))
shutil.copytree(
    ROOT / "tests" / "airflow" / "dags",
    DAGS,
    dirs_exist_ok=True,
    ignore=shutil.ignore_patterns("__pycache__"),
)

AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME / 'airflow.db'}",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
}
os.environ.update(AIRFLOW_ENV)
# Airflow subprocesses must import this checkout's package (other checkouts may share the
# venv); only they get it, so tests that need a clean environment keep theirs.
SUBPROCESS_PYTHONPATH = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
# Airflow's bundles put the DAGs folder on sys.path when parsing; a plain DagBag does not.
sys.path.insert(0, str(DAGS))
PARAM_DEFAULTS: dict[str, dict[str, Any]] = {}
AIRFLOW_BIN = str(Path(sys.executable).with_name("airflow"))


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the SQLite metadata database once per session."""
    env = {**os.environ, "PYTHONPATH": SUBPROCESS_PYTHONPATH}
    subprocess.run([AIRFLOW_BIN, "db", "migrate"], check=True, capture_output=True, timeout=300, env=env)
    from airflow import settings

    settings.configure_orm()
    return HOME


@pytest.fixture(scope="session")
def dagbag(airflow_db: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors, bag.import_errors
    for dag_id in bag.dag_ids:
        PARAM_DEFAULTS[dag_id] = copy.deepcopy(bag.get_dag(dag_id).params.dump())
    return bag


# Records are signed under Airflow; the tests give the key through the environment so
# they can read the journal themselves (``Store(..., hmac_key=TEST_KEY)``).
TEST_KEY = b"krkn-test-hmac-key"


@pytest.fixture
def journal_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh rollback location, used through ``$KRKN_ROLLBACK_LOCATION``, signed with ``TEST_KEY``."""
    location = tmp_path / "rollback"
    monkeypatch.setenv("KRKN_ROLLBACK_LOCATION", str(location))
    monkeypatch.setenv("KRKN_ROLLBACK_HMAC_KEY", TEST_KEY.decode())
    return location


@pytest.fixture
def k8s_conn(kube: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """``kubernetes_default`` pointing at the test cluster, as an env var connection."""
    conn = {"conn_type": "kubernetes", "extra": {"kube_config_path": str(kube.kubeconfig)}}
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(conn))
    return "kubernetes_default"


def run_dag(dagbag: Any, dag_id: str, conf: dict[str, Any] | None = None) -> Any:
    """``dag.test()`` one run of ``dag_id``; returns the DagRun."""
    dag = dagbag.get_dag(dag_id)
    assert dag is not None, f"no DAG {dag_id}"
    # dag.test() runs tasks in this process and a run's conf can leak into the DAG's params
    # for the next run: always pass every param.
    return dag.test(run_conf={**copy.deepcopy(PARAM_DEFAULTS[dag_id]), **(conf or {})})


def task_states(dag_run: Any) -> dict[str, str | None]:
    from airflow import settings
    from airflow.models.taskinstance import TaskInstance

    session = settings.Session()
    tis = session.query(TaskInstance).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).all()
    return {ti.task_id: (str(getattr(ti.state, "value", ti.state)) if ti.state else None) for ti in tis}


def xcom(dag_run: Any, task_id: str, key: str = "return_value") -> Any:
    from airflow import settings
    from airflow.models.xcom import XComModel

    session = settings.Session()
    row = (
        session.query(XComModel)
        .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key=key)
        .first()
    )
    if row is None:
        return None
    value = row.value
    try:
        return json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return value


@pytest.fixture
def airflow_env() -> Iterator[dict[str, str]]:
    """Environment for Airflow subprocesses (same home, DAGs, database)."""
    yield {**os.environ, **AIRFLOW_ENV, "PYTHONPATH": SUBPROCESS_PYTHONPATH}
