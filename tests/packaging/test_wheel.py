"""The provider's wheel holds the provider and nothing of the Kubernetes API emulator.

The emulator is a distribution of its own (``emulator/``); users installing the provider must
not get it. The wheel is built the way an installer builds it from a checkout (setuptools'
PEP 517 hook), from a copy of the working tree so the build leaves nothing in the repository.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_BUILD = "import sys; from setuptools import build_meta as b; print(b.build_wheel(sys.argv[1]))"


def _source_copy(dest: Path) -> Path:
    """The repository's files as a checkout has them (tracked and new, not ignored ones)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to list the repository's files")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _build(source: Path, out: Path) -> zipfile.ZipFile:
    """The wheel setuptools builds from ``source``, as an open zip file."""
    out.mkdir()
    built = subprocess.run(
        [sys.executable, "-c", _BUILD, str(out)],
        cwd=source,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return zipfile.ZipFile(out / built.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _source_copy(tmp_path_factory.mktemp("checkout"))


def test_provider_wheel_has_no_emulator(source: Path, tmp_path: Path) -> None:
    with _build(source, tmp_path / "dist") as whl:
        files = whl.namelist()
        entry_points = whl.read(next(f for f in files if f.endswith(".dist-info/entry_points.txt")))
    emulator = [f for f in files if "kube_emulator" in f or f.startswith("emulator/")]
    assert emulator == [], f"the provider's wheel carries the emulator: {emulator[:5]}"
    assert "krkn_airflow_provider/__init__.py" in files
    assert "krkn_airflow_provider/py.typed" in files
    assert any(f.startswith("krkn_airflow_provider/rollback/templates/") for f in files)
    # the console script `kube-emulator` belongs to the emulator's own distribution
    assert b"krkn-rollback" in entry_points
    assert b"kube-emulator" not in entry_points


def test_emulator_wheel_has_the_emulator(source: Path, tmp_path: Path) -> None:
    with _build(source / "emulator", tmp_path / "dist") as whl:
        files = whl.namelist()
        entry_points = whl.read(next(f for f in files if f.endswith(".dist-info/entry_points.txt")))
    assert "kube_emulator/__init__.py" in files
    assert "kube_emulator/controllers/loop.py" in files
    assert "kube_emulator/py.typed" in files
    assert not any(f.startswith("krkn_airflow_provider/") for f in files)
    assert b"kube-emulator = kube_emulator.__main__:main" in entry_points
