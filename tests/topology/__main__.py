"""``python -m tests.topology up|down|status``: the bed by hand (``scripts/topology.sh``)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.topology.bed import BIN, Bed, start, wait_dags
from tests.topology.waiting import free_port, wait_for


def _start_emulator(root: Path) -> tuple[subprocess.Popen[bytes], Path]:
    kubeconfig = root / "kubeconfig"
    port = free_port()
    log = (root / "logs").resolve()
    log.mkdir(parents=True, exist_ok=True)
    with (log / "emulator.log").open("ab") as out:
        process = subprocess.Popen(
            [str(BIN / "kube-emulator"), "--port", str(port), "--kubeconfig", str(kubeconfig)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_for(kubeconfig.exists, timeout=30, what="the Kubernetes emulator's kubeconfig")
    return process, kubeconfig


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="topology.sh", description="The production-shaped test bed.")
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--root", default=os.environ.get("KRKN_BED_ROOT", "/tmp/krkn-topology"))
    args = parser.parse_args(argv)
    root = Path(args.root)
    if args.command == "up":
        if (root / "state.json").exists():
            print(f"a bed is already recorded in {root}: run `down` first", file=sys.stderr)
            return 1
        root.mkdir(parents=True, exist_ok=True)
        emulator = None
        kubeconfig_env = os.environ.get("KRKN_TEST_KUBECONFIG")
        if kubeconfig_env:
            kubeconfig = Path(kubeconfig_env).expanduser()
        else:
            emulator, kubeconfig = _start_emulator(root)
        bed = start(root, kubeconfig=kubeconfig)
        if emulator is not None:
            bed.pids["kube-emulator"] = emulator.pid
            bed.save()
        wait_dags(bed, ["topology_gameday"])
        print(f"up: {bed.api_url} (UI, REST; all users admin)\njournal: {bed.location} via {bed.s3_url}")
        print(f"kubeconfig: {bed.kubeconfig}\nlogs: {root / 'logs'}\nstop: scripts/topology.sh down")
        return 0
    if not (root / "state.json").exists():
        print(f"no bed recorded in {root}")
        return 0 if args.command == "down" else 1
    bed = Bed.load(root)
    if args.command == "status":
        down = [name for name in bed.pids if not bed.alive(name)]
        for name, pid in bed.pids.items():
            print(f"{name:14} pid {pid:<8} {'up' if bed.alive(name) else 'DOWN'}")
        print(f"api: {bed.api_url}  journal: {bed.location} via {bed.s3_url}")
        return 1 if down else 0
    bed.stop_all()
    shutil.rmtree(root, ignore_errors=True)
    print("down")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
