"""krkn-rollback on bad input and unreachable places: a message and an exit code, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from krkn_airflow_provider.rollback import Store, new_run_uuid

from .conftest import delete_record, free_port, make_journal
from .test_cli import cli


@pytest.fixture
def root(tmp_path: Path) -> tuple[Path, str, str]:
    """A journal with one pending record: (root, run uuid, record id)."""
    location = tmp_path / "rollback"
    journal = make_journal(Store(str(location)))
    entry = journal.record(delete_record("a"))
    assert entry is not None
    return location, journal.run_uuid, entry.id


def unreachable_kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "unreachable.yaml"
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{free_port()}"}}}}]
users: [{{name: u, user: {{token: x}}}}]
contexts: [{{name: c, context: {{cluster: c, user: u}}}}]
current-context: c
"""
    )
    return path


def assert_clean(result: object, code: int, *needles: str) -> None:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == code, (result.returncode, stderr)  # type: ignore[attr-defined]
    assert "Traceback" not in stderr and "Traceback" not in result.stdout  # type: ignore[attr-defined]
    # At most the line saying which journal was opened, then the one error line.
    lines = [line for line in stderr.splitlines() if line]
    assert lines[-1].startswith("krkn-rollback: error: "), stderr
    assert all(line.startswith("krkn-rollback: ") for line in lines) and len(lines) <= 2, stderr
    for needle in needles:
        assert needle in stderr, stderr


# -- nothing to do is not a success when the selection names something that is not there ----


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--run-uuid", "00000000-0000-4000-8000-000000000000"], "--run-uuid"),
        (["--record", "pod_disruption_scenarios_1_abcdefgh"], "--record"),
        (["--scenario", "no_such_scenarios"], "--scenario"),
        (["--dag-id", "no_such_dag"], "--dag-id"),
    ],
)
def test_execute_of_an_unknown_selection_exits_2(
    root: tuple[Path, str, str], extra: list[str], needle: str
) -> None:
    location, _, _ = root
    assert_clean(cli("execute", *extra, location=location), 2, needle, "matches no record")


def test_execute_on_a_location_that_does_not_exist_exits_2(tmp_path: Path) -> None:
    assert_clean(cli("execute", "--all", location=tmp_path / "nope"), 2, "does not exist")


def test_an_empty_location_exits_2(root: tuple[Path, str, str]) -> None:
    location, _, _ = root
    assert_clean(cli("--location", "", "execute", "--all", location=location), 2, "--location is empty")


@pytest.mark.parametrize("workers", ["0", "-3"])
def test_workers_below_one_are_refused(root: tuple[Path, str, str], workers: str) -> None:
    location, _, _ = root
    result = cli("execute", "--all", "--workers", workers, location=location)
    assert result.returncode == 2
    assert "--workers" in result.stderr and "at least 1" in result.stderr
    assert "Traceback" not in result.stderr


# -- no traceback reaches a user ---------------------------------------------------------


def test_location_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert_clean(cli("list", location=tmp_path / "file"), 2, "not a folder")


@pytest.mark.parametrize("location", ["foo://bucket/x", "gs://bucket/x"])
def test_unknown_or_missing_storage_library(location: str) -> None:
    import importlib.util

    if location.startswith("gs") and importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed here")
    assert_clean(cli("--location", location, "list"), 2, location.partition(":")[0])


def test_kubeconfig_that_is_not_yaml(root: tuple[Path, str, str], tmp_path: Path) -> None:
    location, _, _ = root
    bad = tmp_path / "bad.yaml"
    bad.write_text("{ this: is: not yaml ::")
    assert_clean(cli("execute", "--all", "--kubeconfig", str(bad), location=location), 2, "kubeconfig")


@pytest.mark.parametrize("verb", ["execute", "sweep"])
def test_apiserver_unreachable(root: tuple[Path, str, str], tmp_path: Path, verb: str) -> None:
    location, _, _ = root
    kubeconfig = unreachable_kubeconfig(tmp_path)
    assert_clean(
        cli(
            verb,
            *(["--all"] if verb == "execute" else []),
            "--kubeconfig",
            str(kubeconfig),
            location=location,
        ),
        1,
        "cannot reach the Kubernetes API",
    )


@pytest.mark.parametrize(
    ("option", "value"), [("--run-uuid", "not-a-uuid"), ("--namespace", "Not_A_Namespace!")]
)
def test_sweep_bad_filters(root: tuple[Path, str, str], tmp_path: Path, option: str, value: str) -> None:
    location, _, _ = root
    kubeconfig = unreachable_kubeconfig(tmp_path)
    assert_clean(cli("sweep", option, value, "--kubeconfig", str(kubeconfig), location=location), 2, value)


def test_prune_with_an_absurd_age(root: tuple[Path, str, str]) -> None:
    location, _, _ = root
    assert_clean(cli("prune", "--older-than", "9" * 400, location=location), 2, "--older-than")


def test_report_output_on_a_file(root: tuple[Path, str, str], tmp_path: Path) -> None:
    location, run_uuid, _ = root
    (tmp_path / "a-file").write_text("x")
    assert_clean(
        cli("report", run_uuid, "--output-dir", str(tmp_path / "a-file"), location=location),
        2,
        "--output-dir",
    )


def test_report_of_an_unknown_run_exits_2(root: tuple[Path, str, str]) -> None:
    location, _, _ = root
    assert_clean(cli("report", new_run_uuid(), location=location), 2, "no run")


def test_debug_still_shows_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = cli("--debug", "list", location=tmp_path / "file")
    assert result.returncode != 0 and "Traceback" in result.stderr
