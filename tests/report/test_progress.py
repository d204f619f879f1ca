"""The replay progress bar: on terminals only, under the per-record lines."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from krkn_airflow_provider import cli
from krkn_airflow_provider.report.progress import ReplayProgress
from krkn_airflow_provider.rollback import Journal, Origin, Store, UndoRecord, new_run_uuid


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_bar_when_not_a_terminal() -> None:
    out = io.StringIO()
    log = ReplayProgress(out, min_records=2)
    log("[1/2] delete ConfigMap a/b … undone in 3 ms")
    log("[2/2] delete ConfigMap a/c … undone in 3 ms")
    assert (
        out.getvalue()
        == "[1/2] delete ConfigMap a/b … undone in 3 ms\n[2/2] delete ConfigMap a/c … undone in 3 ms\n"
    )


def test_bar_on_a_terminal_is_redrawn_under_each_line() -> None:
    out = Terminal()
    log = ReplayProgress(out, min_records=4)
    for i in range(1, 5):
        log(f"[{i}/4] delete ConfigMap a/x{i} … undone in 1 ms")
    text = out.getvalue()
    assert text.count("\r\033[K") == 3  # bars 1-3 erased by the next line
    assert text.endswith("[4/4] delete ConfigMap a/x4 … undone in 1 ms\n[" + "#" * 30 + "] 4/4 100%\n")
    assert "[" + "#" * 7 + "." * 23 + "] 1/4 25%" in text
    short = Terminal()
    ReplayProgress(short, min_records=4)("[1/3] delete ConfigMap a/b … undone in 1 ms")
    assert "#" not in short.getvalue()  # a short replay needs no bar


def test_cli_execute_shows_the_bar_on_a_terminal(kube: Any, tmp_path: Path) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    store = Store(str(tmp_path / "rollback"))
    journal = Journal(store, Origin(run_uuid=new_run_uuid(), scenario="service_hijacking_scenarios"))
    for i in range(12):
        name = f"krkn-cm-{i}"
        labels = journal.object_labels()
        journal.record(
            UndoRecord(
                action="delete",
                api_version="v1",
                kind="ConfigMap",
                namespace=kube.namespace,
                name=name,
                guard=labels,
            )
        )
        body = {"metadata": {"name": name, "labels": labels}, "data": {"x": "1"}}
        core.create_namespaced_config_map(kube.namespace, body)
    out = Terminal()
    argv = ["--location", store.location, "execute", "--run-uuid", journal.run_uuid]
    code = cli.main([*argv, "--kubeconfig", str(kube.kubeconfig)], out)
    text = out.getvalue()
    assert code == 0, text
    assert "] 12/12 100%\n" in text and text.count("\r\033[K") == 11
    assert f"\r\033[K[12/12] delete ConfigMap {kube.namespace}/krkn-cm-0 … undone in" in text
    assert core.list_namespaced_config_map(kube.namespace, label_selector="krkn.io/run").items == []
