"""Replay against a cluster: the emulator over real HTTP, or KRKN_TEST_KUBECONFIG's cluster."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from krkn_airflow_provider.rollback import Entry, Journal, Origin, Store, UndoRecord, new_run_uuid, replay
from krkn_airflow_provider.rollback.records import reverse_merge_patch
from krkn_airflow_provider.rollback.versionfile import ParsedVersionFile

CLI = str(Path(sys.executable).parent / "krkn-rollback")


def config_map(
    name: str, namespace: str, labels: dict[str, str] | None = None, **data: str
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "data": data,
    }


def service(name: str, namespace: str, **selector: str) -> dict[str, Any]:
    """A Service: what scenarios patch (its selector), so what a patch record may touch."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": selector, "ports": [{"port": 80}]},
    }


def selector(core: k8s.CoreV1Api, namespace: str, name: str) -> dict[str, str]:
    return dict(core.read_namespaced_service(name, namespace).spec.selector or {})


def journal_for(store: Store, run_uuid: str | None = None) -> Journal:
    origin = Origin(
        run_uuid=run_uuid or new_run_uuid(), scenario="service_hijacking_scenarios", task_id="chaos"
    )
    return Journal(store, origin)


def record_create(journal: Journal, core: k8s.CoreV1Api, namespace: str, name: str) -> None:
    """The chaos pattern: record the undo, then make the change."""
    labels = journal.object_labels()
    journal.record(
        UndoRecord(
            action="delete", api_version="v1", kind="ConfigMap", namespace=namespace, name=name, guard=labels
        )
    )
    core.create_namespaced_config_map(namespace, config_map(name, namespace, labels, chaos="yes"))


def record_patch(
    journal: Journal, core: k8s.CoreV1Api, namespace: str, name: str, change: dict[str, Any]
) -> None:
    before = core.read_namespaced_service(name, namespace).to_dict()
    journal.record(
        UndoRecord(
            action="patch",
            api_version="v1",
            kind="Service",
            namespace=namespace,
            name=name,
            patch=reverse_merge_patch(before, change),
            expect=change,
        )
    )
    core.patch_namespaced_service(name, namespace, change)


def cli(*args: str, kube: Any, root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KRKN_ROLLBACK_LOCATION": str(root)}
    return subprocess.run(
        [CLI, *args, "--kubeconfig", str(kube.kubeconfig)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def deleted_nonces(requests: list[Any]) -> list[str]:
    """The guard nonces named by every DELETE request's label selector, one per record applied."""
    nonces: list[str] = []
    for request in requests:
        if request.method != "DELETE":
            continue
        selector = request.query.get("labelSelector") or ""
        match = re.search(r"krkn\.io/nonce(?:=([a-z]+)| in \(([a-z,]+)\))", selector)
        if match:
            nonces += (match[1] or match[2]).split(",")
    return nonces


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Python with nothing but the standard library and the `kubernetes` package."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    uv = Path(sys.executable).parent / "uv"
    if uv.exists():
        subprocess.run([str(uv), "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        subprocess.run(
            [str(uv), "pip", "install", "-q", "--python", str(venv / "bin/python"), "kubernetes"], check=True
        )
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin/pip"), "install", "-q", "kubernetes"], check=True)
    python = str(venv / "bin/python")
    probe = subprocess.run([python, "-c", "import krkn_airflow_provider"], capture_output=True, cwd=venv)
    assert probe.returncode != 0, "the bare Python must not see the provider"
    return python


def test_version_file_runs_by_hand_and_twice(kube: Any, tmp_path: Path, bare_python: str) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    store = Store(str(tmp_path / "rb"))
    journal = journal_for(store)
    core.create_namespaced_service(kube.namespace, service("settings", kube.namespace, mode="normal"))
    record_create(journal, core, kube.namespace, "krkn-responder")
    record_patch(
        journal, core, kube.namespace, "settings", {"spec": {"selector": {"mode": "hijacked", "added": "1"}}}
    )

    for entry in reversed(journal.recorded):
        path = store.path(entry)
        for run in (1, 2):
            done = subprocess.run(
                [bare_python, path, "--kubeconfig", str(kube.kubeconfig)],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            expected = "undone" if run == 1 else "already_clean"
            assert done.stdout.strip().startswith(f"{expected}: "), done.stdout
    assert selector(core, kube.namespace, "settings") == {"mode": "normal"}
    names = [cm.metadata.name for cm in core.list_namespaced_config_map(kube.namespace).items]
    assert "krkn-responder" not in names


@pytest.mark.parametrize("kill_after", ["recorded", "changed"])
def test_sigkill_between_record_and_change(kube: Any, tmp_path: Path, kill_after: str) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    core.create_namespaced_service(kube.namespace, service("app-config", kube.namespace, level="1"))
    before = selector(core, kube.namespace, "app-config")
    root = tmp_path / "rb"
    run_uuid = new_run_uuid()
    script = textwrap.dedent(
        f"""
        import sys, time
        from kubernetes import client, config
        from krkn_airflow_provider.rollback import Journal, Origin, Store, UndoRecord
        from krkn_airflow_provider.rollback.records import reverse_merge_patch
        core = client.CoreV1Api(config.new_client_from_config(config_file={str(kube.kubeconfig)!r}))
        journal = Journal(Store({str(root)!r}), Origin(run_uuid={run_uuid!r}, scenario="test_scenario"))
        ns = {kube.namespace!r}
        labels = journal.object_labels()
        journal.record(UndoRecord(action="delete", api_version="v1", kind="ConfigMap", namespace=ns,
                                  name="chaos-made", guard=labels))
        change = {{"spec": {{"selector": {{"level": "chaos"}}}}}}
        before = core.read_namespaced_service("app-config", ns).to_dict()
        journal.record(UndoRecord(action="patch", api_version="v1", kind="Service", namespace=ns,
                                  name="app-config", patch=reverse_merge_patch(before, change),
                                  expect=change))
        print("recorded", flush=True)
        sys.stdin.readline()
        core.create_namespaced_config_map(ns, {{"metadata": {{"name": "chaos-made", "labels": labels}}}})
        core.patch_namespaced_service("app-config", ns, change)
        print("changed", flush=True)
        time.sleep(600)
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdin is not None
    assert process.stdout.readline().strip() == "recorded"
    if kill_after == "changed":
        process.stdin.write("go\n")
        process.stdin.flush()
        assert process.stdout.readline().strip() == "changed"
        assert selector(core, kube.namespace, "app-config") == {"level": "chaos"}
    process.kill()
    assert process.wait(30) == -9

    result = cli("execute", "--run-uuid", run_uuid, kube=kube, root=root)
    assert result.returncode == 0, result.stdout + result.stderr
    outcome = "undone" if kill_after == "changed" else "already_clean"
    assert result.stdout.count(f"… {outcome} in") == 2, result.stdout
    assert selector(core, kube.namespace, "app-config") == before
    names = [cm.metadata.name for cm in core.list_namespaced_config_map(kube.namespace).items]
    assert "chaos-made" not in names
    assert Store(str(root)).entries(state="pending") == []


def test_newest_first_restores_the_original(kube: Any, tmp_path: Path) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    core.create_namespaced_service(kube.namespace, service("target", kube.namespace, value="original"))
    store = Store(str(tmp_path / "rb"))
    journal = journal_for(store)
    record_patch(journal, core, kube.namespace, "target", {"spec": {"selector": {"value": "first"}}})
    record_patch(journal, core, kube.namespace, "target", {"spec": {"selector": {"value": "second"}}})
    summary = replay(store, kube.dynamic(), run_uuid=journal.run_uuid)
    assert [result.outcome for result in summary.results] == ["undone", "undone"]
    assert [result.entry for result in summary.results] == list(reversed(journal.recorded))
    assert selector(core, kube.namespace, "target") == {"value": "original"}


def test_a_person_changed_the_field_since(kube: Any, tmp_path: Path) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    core.create_namespaced_service(kube.namespace, service("target", kube.namespace, value="original"))
    store = Store(str(tmp_path / "rb"))
    journal = journal_for(store)
    record_patch(journal, core, kube.namespace, "target", {"spec": {"selector": {"value": "chaos"}}})
    core.patch_namespaced_service(
        "target", kube.namespace, {"spec": {"selector": {"value": "fixed-by-hand"}}}
    )
    summary = replay(store, kube.dynamic(), run_uuid=journal.run_uuid)
    assert [result.outcome for result in summary.results] == ["diverged"]
    assert selector(core, kube.namespace, "target") == {"value": "fixed-by-hand"}
    assert store.entries(run_uuid=journal.run_uuid, state="pending") == [], "not retried forever"


def test_guard_keeps_a_look_alike_object(kube: Any, tmp_path: Path) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    store = Store(str(tmp_path / "rb"))
    journal = journal_for(store)
    journal.record(
        UndoRecord(
            action="delete",
            api_version="v1",
            kind="ConfigMap",
            namespace=kube.namespace,
            name="shared-name",
            guard=journal.object_labels(),
        )
    )
    # The chaos never created it; a user made an object with that name.
    core.create_namespaced_config_map(kube.namespace, config_map("shared-name", kube.namespace, owner="user"))
    summary = replay(store, kube.dynamic(), run_uuid=journal.run_uuid)
    assert [result.outcome for result in summary.results] == ["not_ours"]
    assert core.read_namespaced_config_map("shared-name", kube.namespace).data == {"owner": "user"}


def test_failing_record_does_not_stop_the_others(kube: Any, tmp_path: Path) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    later = f"{kube.namespace}-later"
    store = Store(str(tmp_path / "rb"))
    journal = journal_for(store)
    record_create(journal, core, kube.namespace, "first")
    # Re-creating into a namespace that does not exist (yet) fails.
    journal.record(
        UndoRecord(
            action="create",
            api_version="v1",
            kind="Service",
            namespace=later,
            name="restored",
            manifest=service("restored", later, restored="yes"),
        )
    )
    record_create(journal, core, kube.namespace, "third")
    root = tmp_path / "rb"
    first = cli("execute", "--run-uuid", journal.run_uuid, kube=kube, root=root)
    assert first.returncode == 1, first.stdout + first.stderr
    assert first.stdout.count("… undone in") == 2
    assert "still pending: " in first.stdout and "create Service" in first.stdout
    pending = store.entries(run_uuid=journal.run_uuid, state="pending")
    assert [entry.id for entry in pending] == [journal.recorded[1].id]

    core.create_namespace({"metadata": {"name": later}})
    try:
        second = cli("execute", "--run-uuid", journal.run_uuid, kube=kube, root=root)
        assert second.returncode == 0, second.stdout + second.stderr
        assert second.stdout.count("… undone in") == 1
        assert selector(core, later, "restored") == {"restored": "yes"}
    finally:
        core.delete_namespace(later)


def test_four_replays_at_once_apply_each_record_once(kube: Any, tmp_path: Path) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    root = tmp_path / "rb"
    store = Store(str(root))
    journal = journal_for(store)
    for index in range(40):
        record_create(journal, core, kube.namespace, f"cm-{index:02d}")
    if kube.emulator is not None:
        kube.emulator.clear_requests()
    env = {**os.environ, "KRKN_ROLLBACK_LOCATION": str(root)}
    args = [CLI, "execute", "--run-uuid", journal.run_uuid, "--kubeconfig", str(kube.kubeconfig)]
    processes = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env) for _ in range(4)]
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0, 0], outputs
    assert sum(output.count("… undone in") for output in outputs) == 40
    assert sum(output.count("… already_clean in") for output in outputs) == 0
    assert store.entries(run_uuid=journal.run_uuid, state="pending") == []
    assert core.list_namespaced_config_map(kube.namespace, label_selector="krkn.io/run").items == []
    if kube.emulator is not None:
        # Each record's guarded delete went out exactly once (alone or in a batch).
        nonces = deleted_nonces(kube.emulator.writes())
        assert len(nonces) == 40 and len(set(nonces)) == 40


def test_execute_dry_run_changes_nothing(kube: Any, tmp_path: Path) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    root = tmp_path / "rb"
    journal = journal_for(Store(str(root)))
    record_create(journal, core, kube.namespace, "stays")
    if kube.emulator is not None:
        kube.emulator.clear_requests()
    result = cli("execute", "--run-uuid", journal.run_uuid, "--dry-run", kube=kube, root=root)
    assert result.returncode == 0, result.stderr
    assert f"[1/1] delete ConfigMap {kube.namespace}/stays … planned in" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("dry run of 1 record(s) in ")
    assert core.read_namespaced_config_map("stays", kube.namespace).data == {"chaos": "yes"}
    assert len(Store(str(root)).entries(state="pending")) == 1
    if kube.emulator is not None:
        assert kube.emulator.writes() == []


def test_no_credentials_in_version_files(kube: Any, tmp_path: Path) -> None:
    secret_values = [
        line.split(":", 1)[1].strip()
        for line in kube.kubeconfig.read_text().splitlines()
        if line.strip().startswith(("token:", "client-key-data:", "password:"))
    ]
    core = k8s.CoreV1Api(kube.api_client())
    store = Store(str(tmp_path / "rb"))
    journal = journal_for(store)
    record_create(journal, core, kube.namespace, "one")
    core.create_namespaced_service(kube.namespace, service("one", kube.namespace, app="one"))
    record_patch(journal, core, kube.namespace, "one", {"spec": {"selector": {"chaos": "more"}}})
    for entry in store.entries():
        text = Path(store.path(entry)).read_text()
        for value in secret_values:
            assert value not in text


class CountingStore(Store):
    """A store that counts the version files it parses."""

    loads = 0

    def load(self, entry: Entry) -> ParsedVersionFile:
        self.loads += 1
        return super().load(entry)


def test_parallel_lanes_keep_each_objects_order(kube: Any, tmp_path: Path) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    core.create_namespaced_service(kube.namespace, service("target", kube.namespace, value="original"))
    store = CountingStore(str(tmp_path / "rb"))
    journal = journal_for(store)
    record_patch(journal, core, kube.namespace, "target", {"spec": {"selector": {"value": "first"}}})
    for index in range(12):
        record_create(journal, core, kube.namespace, f"cm-{index:02d}")
    record_patch(journal, core, kube.namespace, "target", {"spec": {"selector": {"value": "second"}}})
    store.loads = 0
    summary = replay(store, kube.dynamic(), run_uuid=journal.run_uuid, workers=3)
    assert summary.counts == {"undone": 14}
    assert store.loads == 14  # read once each: picking the lanes does not read them again
    assert [result.entry for result in summary.results] == list(reversed(journal.recorded))
    assert selector(core, kube.namespace, "target") == {"value": "original"}
    assert core.list_namespaced_config_map(kube.namespace, label_selector="krkn.io/run").items == []
