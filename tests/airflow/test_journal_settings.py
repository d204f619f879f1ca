"""``settings.open_store``: one resolution order for every component, and the key Variable."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider import settings
from krkn_airflow_provider.errors import ConfigError
from tests.airflow.conftest import run_dag, task_states

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("KRKN_ROLLBACK_LOCATION", "KRKN_ROLLBACK_CONN_ID", "KRKN_ROLLBACK_HMAC_KEY"):
        monkeypatch.delenv(name, raising=False)
    for option in ("ROLLBACK_LOCATION", "ROLLBACK_CONN_ID", "HMAC_KEY_VARIABLE", "HMAC_OLD_KEYS_VARIABLE"):
        monkeypatch.delenv(f"AIRFLOW__KRKN__{option}", raising=False)
    return monkeypatch


def _delete_default_key() -> None:
    from airflow.models.variable import Variable

    Variable.delete(settings.DEFAULT_KEY_VARIABLE)


def test_order_argument_then_krkn_config_then_environment_then_default(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert settings.resolve_location() == ("~/.krkn/rollback", "default")
    clean_env.setenv("KRKN_ROLLBACK_LOCATION", str(tmp_path / "env"))
    assert settings.resolve_location() == (str(tmp_path / "env"), "$KRKN_ROLLBACK_LOCATION")
    clean_env.setenv("AIRFLOW__KRKN__ROLLBACK_LOCATION", str(tmp_path / "cfg"))
    assert settings.resolve_location() == (str(tmp_path / "cfg"), "[krkn] rollback_location")
    assert settings.resolve_location("/arg") == ("/arg", "argument")
    clean_env.setenv("KRKN_ROLLBACK_CONN_ID", "from_env")
    assert settings.resolve_conn_id() == ("from_env", "$KRKN_ROLLBACK_CONN_ID")
    clean_env.setenv("AIRFLOW__KRKN__ROLLBACK_CONN_ID", "from_cfg")
    assert settings.resolve_conn_id("arg") == ("arg", "argument")
    assert settings.resolve_conn_id() == ("from_cfg", "[krkn] rollback_conn_id")

    # Keys: argument > the Variable [krkn] names > $KRKN_ROLLBACK_HMAC_KEY > the default Variable.
    clean_env.setenv("AIRFLOW_VAR_KRKN_ROLLBACK_HMAC_KEY", "default-variable")
    store, resolved = settings.open_store(use_airflow=True)
    assert store.hmac_key == b"default-variable" and "(default)" in resolved.key_source
    clean_env.setenv("KRKN_ROLLBACK_HMAC_KEY", "from-env")
    assert settings.open_store(use_airflow=True)[0].hmac_key == b"from-env"
    clean_env.setenv("AIRFLOW__KRKN__HMAC_KEY_VARIABLE", "team_key")
    clean_env.setenv("AIRFLOW_VAR_TEAM_KEY", "configured")
    clean_env.setenv("AIRFLOW__KRKN__HMAC_OLD_KEYS_VARIABLE", "team_old_keys")
    clean_env.setenv("AIRFLOW_VAR_TEAM_OLD_KEYS", "old-1, old-2")
    store, resolved = settings.open_store(use_airflow=True)
    assert (store.hmac_key, store.old_keys) == (b"configured", (b"old-1", b"old-2"))
    assert resolved.describe() == (
        f"journal {tmp_path / 'cfg'} (from [krkn] rollback_location); connection 'from_cfg' (from "
        "[krkn] rollback_conn_id); records signed, key from Airflow Variable 'team_key' "
        "([krkn] hmac_key_variable), 2 old key(s) accepted"
    )
    assert settings.open_store(use_airflow=True, hmac_key="arg")[0].hmac_key == b"arg"


def test_key_variable_created_once_when_tasks_start_together(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _delete_default_key()
    location = str(tmp_path / "journal")
    barrier = threading.Barrier(4)
    keys: list[bytes | None] = []

    def task() -> None:
        barrier.wait()
        store, _ = settings.open_store(location=location, use_airflow=True, create_key=True)
        keys.append(store.hmac_key)

    threads = [threading.Thread(target=task) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    from airflow.models.variable import Variable

    stored = Variable.get(settings.DEFAULT_KEY_VARIABLE)
    assert len(keys) == 4 and set(keys) == {stored.encode()}
    assert len(stored) >= 32
    assert (tmp_path / "journal" / settings.KEY_LOCK).is_file()
    _delete_default_key()


def test_unreadable_key_variable_is_refused_before_any_cluster_change(
    dagbag: Any, kube: Any, journal_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__KRKN__HMAC_KEY_VARIABLE", "no_such_key_variable")
    with pytest.raises(ConfigError, match=r"Airflow Variable 'no_such_key_variable' .* missing or empty"):
        settings.open_store(use_airflow=True)
    hog = {"hog-type": "cpu", "duration": 0, "namespace": kube.namespace, "number-of-nodes": 1}

    dag_run = run_dag(dagbag, "krkn_single", {"scenario_type": "hog_scenarios", "config": hog})

    assert task_states(dag_run)["chaos"] == "failed"
    assert not journal_dir.exists() or not any(journal_dir.iterdir())
    if kube.emulator is not None:
        assert kube.emulator.writes(f"/namespaces/{kube.namespace}/") == []
