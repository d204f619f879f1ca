"""Helpers the topology tests share: release the gated chaos task, read the journal on S3."""

from __future__ import annotations

from typing import Any

from tests.topology.bed import BUCKET, PREFIX, Bed, wait_for

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
