"""Journal storage written by hostile hands: symlinks, odd files, huge files, odd names."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from krkn_airflow_provider.errors import CorruptRecord, JournalError, StorageError
from krkn_airflow_provider.rollback import Store, replay
from krkn_airflow_provider.rollback.replay import RetryPolicy
from krkn_airflow_provider.rollback.storage import MAX_RECORD_BYTES

from .conftest import delete_record, make_journal


def _run_folder(store: Store) -> tuple[Path, str]:
    journal = make_journal(store)
    entry = journal.record(delete_record("a"))
    assert entry is not None
    store.mark_executed(entry)
    return Path(store.path(entry)).parent, journal.run_uuid


def test_prune_never_follows_a_symlinked_run_folder(tmp_path: Path) -> None:
    root = tmp_path / "rollback"
    store = Store(str(root))
    folder, _ = _run_folder(store)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data.txt").write_text("keep me")
    (precious / "pod_disruption_scenarios_1_abcdefgh.py.executed").write_text("keep me too")
    # A run folder that is a symlink to somewhere outside the journal.
    link = root / f"1-{folder.name.partition('-')[2]}"
    link.symlink_to(precious)
    assert [c.name for c in store.contexts()] == [folder.name], "a symlinked run folder is not listed"
    store.prune(older_than_seconds=0)
    assert (precious / "data.txt").read_text() == "keep me"
    assert (precious / "pod_disruption_scenarios_1_abcdefgh.py.executed").exists()
    assert link.is_symlink()


def test_prune_removes_only_names_the_journal_owns(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "rollback"))
    folder, _ = _run_folder(store)
    (folder / "notes.txt").write_text("a person's notes")
    for own in (
        "chaos.1.result.json",
        "replay.12.rollback.json",
        "gameday-report.html",
        "gameday-report.xml",
    ):
        (folder / own).write_text("{}")
    outside = tmp_path / "outside.txt"
    outside.write_text("outside")
    (folder / "pod_disruption_scenarios_2_abcdefgh.py.executed").symlink_to(outside)
    removed = store.prune(older_than_seconds=0)
    assert [c.name for c in removed] == [folder.name]
    assert (folder / "notes.txt").read_text() == "a person's notes"
    assert outside.read_text() == "outside"
    assert not any(
        name.endswith(".py.executed") and not (folder / name).is_symlink() for name in os.listdir(folder)
    )


def test_prune_still_removes_a_whole_run_folder_of_the_provider(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "rollback"))
    folder, _ = _run_folder(store)
    for own in (
        "chaos.1.result.json",
        "replay.12.rollback.json",
        "gameday-report.html",
        "gameday-report.xml",
    ):
        (folder / own).write_text("{}")
    (folder / ".tmp-0123456789ab-pod_disruption_scenarios_3_abcdefgh.py").write_text("half")
    assert [c.name for c in store.prune(older_than_seconds=0)] == [folder.name]
    assert not folder.exists()


def test_symlinked_record_is_refused_not_followed(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "rollback"))
    journal = make_journal(store)
    entry = journal.record(delete_record("a"))
    assert entry is not None
    path = Path(store.path(entry))
    real = tmp_path / "elsewhere.py"
    real.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(real)
    with pytest.raises(JournalError, match="not a regular file"):
        store.load(entry)


def test_a_root_inside_a_symlink_loop_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    store = Store(str(tmp_path / "a" / "rollback"))
    with pytest.raises(StorageError, match="ELOOP"):
        store.entries()


def test_fsspec_backend_skips_symlinks_too(tmp_path: Path) -> None:
    import fsspec

    root = tmp_path / "rollback"
    local = Store(str(root))
    folder, _ = _run_folder(local)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data.txt").write_text("keep me")
    (root / f"1-{folder.name.partition('-')[2]}").symlink_to(precious)
    store = Store(str(root), fs=fsspec.filesystem("file"))
    assert [c.name for c in store.contexts()] == [folder.name]
    store.prune(older_than_seconds=0)
    assert (precious / "data.txt").read_text() == "keep me"


def _replay_two_with_one_bad(tmp_path: Path, kube: Any, spoil: Any) -> Any:
    store = Store(str(tmp_path / "rollback"))
    journal = make_journal(store)
    bad = journal.record(delete_record("bad", kube.namespace))
    good = journal.record(delete_record("good", kube.namespace))
    assert bad is not None and good is not None
    spoil(Path(store.path(bad)))
    return store, bad, good, replay(store, kube.dynamic(), run_uuid=journal.run_uuid)


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_directory_or_fifo_named_like_a_record_is_one_failure(
    kube: Any, tmp_path: Path, kind: str, caplog: Any
) -> None:
    def spoil(path: Path) -> None:
        path.unlink()
        if kind == "directory":
            path.mkdir()
        else:
            os.mkfifo(path)

    with caplog.at_level("WARNING"):
        _, bad, good, summary = _replay_two_with_one_bad(tmp_path, kube, spoil)
    outcomes = {result.entry.id: (result.outcome, result.message) for result in summary.results}
    assert outcomes[good.id][0] == "already_clean", outcomes
    assert (
        outcomes[bad.id][0] == "failed"
        and f"not a regular file (a {kind.lower()}" in outcomes[bad.id][1].lower()
    )
    assert "not a regular file" in caplog.text


def test_an_unreadable_record_is_one_failure(kube: Any, tmp_path: Path) -> None:
    import json
    import shutil
    import subprocess
    import sys

    store = Store(str(tmp_path / "rollback"))
    journal = make_journal(store)
    bad = journal.record(delete_record("bad", kube.namespace))
    good = journal.record(delete_record("good", kube.namespace))
    assert bad is not None and good is not None
    Path(store.path(bad)).chmod(0)
    script = (
        "import json\n"
        "from kubernetes import config, dynamic\n"
        "from krkn_airflow_provider.rollback import Store, replay\n"
        f"api = config.new_client_from_config(config_file={str(kube.kubeconfig)!r})\n"
        "client = dynamic.DynamicClient(api)\n"
        f"summary = replay(Store({store.location!r}), client, run_uuid={journal.run_uuid!r})\n"
        "print(json.dumps({r.entry.id: [r.outcome, r.message] for r in summary.results}))\n"
    )
    command = [sys.executable, "-c", script]
    if os.geteuid() == 0:
        # Root reads any file: drop the capabilities that let it, as an ordinary user has none.
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to run without CAP_DAC_OVERRIDE as root")
        caps = "-dac_override,-dac_read_search"
        command = ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", *command]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    outcomes = json.loads(run.stdout.splitlines()[-1])
    assert outcomes[good.id][0] == "already_clean", outcomes
    assert outcomes[bad.id][0] == "failed" and "permission denied" in outcomes[bad.id][1].lower()


def test_a_kind_the_server_does_not_have_is_one_failure(kube: Any, tmp_path: Path) -> None:
    from krkn_airflow_provider.rollback import UndoRecord

    store = Store(str(tmp_path / "rollback"))
    journal = make_journal(store)
    labels = journal.object_labels()
    bad = journal.record(
        UndoRecord(
            action="delete",
            api_version="example.com/v1",
            kind="Gone",
            namespace=kube.namespace,
            name="x",
            guard=labels,
        )
    )
    good = journal.record(delete_record("good", kube.namespace))
    assert bad is not None and good is not None
    summary = replay(store, kube.dynamic(), run_uuid=journal.run_uuid)
    outcomes = {result.entry.id: (result.outcome, result.message) for result in summary.results}
    assert outcomes[good.id][0] == "already_clean", outcomes
    assert outcomes[bad.id][0] == "failed" and "Gone" in outcomes[bad.id][1]


def test_an_apiserver_lost_before_discovery_fails_each_record(tmp_path: Path) -> None:
    from kubernetes import dynamic
    from kubernetes.client import ApiClient, Configuration

    store = Store(str(tmp_path / "rollback"))
    journal = make_journal(store)
    for name in ("a", "b"):
        journal.record(delete_record(name))
    configuration = Configuration()
    configuration.host = "http://127.0.0.1:9"  # nothing listens on the discard port
    configuration.retries = 0
    api = ApiClient(configuration)

    class Lazy(dynamic.DynamicClient):  # type: ignore[misc]
        # Discovery deferred to the first use, as with a warm discovery cache.
        def __init__(self) -> None:
            self.client = api
            self.configuration = configuration

        @property
        def resources(self) -> Any:
            return dynamic.discovery.LazyDiscoverer(self, None)

    summary = replay(store, Lazy(), run_uuid=journal.run_uuid, retry=RetryPolicy(attempts=1))
    assert [result.outcome for result in summary.results] == ["failed", "failed"]
    assert all(result.message for result in summary.results)


def test_a_file_over_the_size_cap_is_refused_before_reading(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "rollback"))
    journal = make_journal(store)
    entry = journal.record(delete_record("a"))
    assert entry is not None
    path = Path(store.path(entry))
    with path.open("ab") as handle:
        handle.truncate(MAX_RECORD_BYTES + 1)  # sparse: big on stat, nothing to read
    with pytest.raises(CorruptRecord, match=r"larger than the 1 MiB cap"):
        store.load(entry)
    assert MAX_RECORD_BYTES == 1024 * 1024


@pytest.mark.parametrize(
    "name",
    ["pod\n_13_abcdefgh.py", "pod_1234567890123456789012_abcdefgh.py", "pod_13_abcdefgh.py\n"],
)
def test_odd_names_are_not_records(tmp_path: Path, name: str) -> None:
    store = Store(str(tmp_path / "rollback"))
    folder, _ = _run_folder(store)
    (folder / name).write_text("x")
    assert [e.state for e in store.entries()] == ["executed"]
    from krkn_airflow_provider.errors import UnsafeName
    from krkn_airflow_provider.rollback import naming

    with pytest.raises(UnsafeName):
        naming.parse_record_name(name)


def test_fifo_is_never_opened_by_a_blocking_read(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "rollback"))
    journal = make_journal(store)
    entry = journal.record(delete_record("a"))
    assert entry is not None
    path = Path(store.path(entry))
    path.unlink()
    os.mkfifo(path)
    assert stat.S_ISFIFO(path.lstat().st_mode)
    with pytest.raises(JournalError, match="not a regular file"):
        store.load(entry)


def test_the_report_skips_odd_result_files(tmp_path: Path) -> None:
    from krkn_airflow_provider.report.results import read_task_results

    store = Store(str(tmp_path / "rollback"))
    folder, run_uuid = _run_folder(store)
    os.mkfifo(folder / "chaos.1.result.json")
    (folder / "other.1.result.json").symlink_to(tmp_path / "elsewhere.json")
    (tmp_path / "elsewhere.json").write_text('{"format": 1}')
    assert read_task_results(store, run_uuid) == []
