"""Helpers the topology tests share: release the gated chaos task, read the journal on S3."""

from __future__ import annotations

from typing import Any

from krkn_airflow_provider.rollback import run_uuid_for
from tests import workloads
from tests.topology.bed import BUCKET, PREFIX, WORKERS, Bed, wait_for

RELEASE = "krkn-topology-release"  # same name as in dags/topology_dags.py


def release(kube: Any) -> None:
    """Let the gated chaos task of ``kube.namespace`` fail (it waits for this ConfigMap)."""
    kube.core().create_namespaced_config_map(
        kube.namespace, {"metadata": {"name": RELEASE}, "data": {"release": "now"}}
    )


def run_folder(bed: Bed, run_uuid: str) -> str | None:
    fs = bed.s3()
    folders = [path for path in fs.ls(f"{BUCKET}/{PREFIX}", refresh=True) if path.endswith(run_uuid)]
    return folders[0] if folders else None


def journal_files(bed: Bed, run_uuid: str) -> dict[str, str]:
    """Every object of the run's folder on S3: name -> text."""
    folder = run_folder(bed, run_uuid)
    assert folder is not None, f"no run folder for {run_uuid} in s3://{BUCKET}/{PREFIX}"
    fs = bed.s3()
    return {path.rsplit("/", 1)[1]: fs.cat_file(path).decode() for path in fs.ls(folder, refresh=True)}


def records(files: dict[str, str]) -> dict[str, str]:
    """Only the version files (pending ``.py`` and ``.py.executed``)."""
    return {name: text for name, text in files.items() if name.endswith((".py", ".py.executed"))}


def wait_pending(bed: Bed, run_uuid: str, count: int, *, timeout: float = 180) -> dict[str, str]:
    """Wait until the run has ``count`` pending records on S3 (durable: written before each change)."""

    def check() -> dict[str, str] | None:
        if run_folder(bed, run_uuid) is None:
            return None
        pending = {n: t for n, t in records(journal_files(bed, run_uuid)).items() if n.endswith(".py")}
        return pending if len(pending) >= count else None

    return wait_for(check, timeout=timeout, what=f"{count} pending record(s) of run {run_uuid} on S3")


def all_executed(bed: Bed, kube: Any, run_uuid: str, count: int) -> dict[str, str]:
    """Check the cluster holds nothing the run made and its ``count`` records are executed."""
    assert workloads.managed(kube.api_client(), kube.namespace) == []
    files = records(journal_files(bed, run_uuid))
    assert len(files) == count and all(name.endswith(".py.executed") for name in files), sorted(files)
    return files


def rolled_back_on_b(
    bed: Bed, kube: Any, dag_id: str, run_id: str, count: int
) -> tuple[dict[str, Any], dict[str, str]]:
    """Check the chaos task failed and worker B's rollback undid all ``count`` records.

    The run's task instances and its record files, for further checks.
    """
    tis = bed.task_instances(dag_id, run_id)
    assert {task: ti["state"] for task, ti in tis.items()} == {
        "chaos": "failed",
        "rollback": "success",
        "watcher": "failed",
    }
    assert tis["rollback"]["hostname"] == WORKERS["b"]
    return tis, all_executed(bed, kube, run_uuid_for(dag_id, run_id), count)
