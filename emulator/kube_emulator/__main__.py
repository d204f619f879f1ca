"""``kube-emulator`` / ``python -m kube_emulator``: run the emulator for demos and by hand."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._emulator import Emulator

DEMO_NAMESPACE = "demo"


def sample_workload(emu: Emulator) -> None:
    """Namespace ``demo``: Deployment ``web`` (3 nginx pods) behind Service ``web``, and pod ``toolbox``."""
    labels = {"app": "web"}
    emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": DEMO_NAMESPACE}})
    emu.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": DEMO_NAMESPACE, "labels": labels},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "nginx",
                                "image": "nginx:1.27",
                                "ports": [{"containerPort": 80, "name": "http"}],
                            }
                        ]
                    },
                },
            },
        },
        keep_status=False,
    )
    emu.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": DEMO_NAMESPACE, "labels": labels},
            "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
        },
        keep_status=False,
    )
    emu.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "toolbox", "namespace": DEMO_NAMESPACE, "labels": {"app": "toolbox"}},
            "spec": {
                "containers": [{"name": "toolbox", "image": "busybox:1.36", "command": ["sleep", "infinity"]}]
            },
        },
        keep_status=False,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kube-emulator",
        description="Run an in-memory Kubernetes API server (with controllers) until SIGINT/SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="plain HTTP port (default: a free one)")
    parser.add_argument(
        "--tls-port", type=int, default=0, help="HTTPS port, used by the kubeconfig (default: a free one)"
    )
    parser.add_argument("--nodes", type=int, default=3, help="number of worker nodes (default: %(default)s)")
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        default=Path("kube-emulator.kubeconfig"),
        help="where to write the kubeconfig (default: %(default)s)",
    )
    parser.add_argument("--token", default=None, help="bearer token (default: random)")
    parser.add_argument(
        "--sample-workload",
        action="store_true",
        help="create namespace 'demo' with Deployment 'web' (3 pods), Service 'web' and pod 'toolbox'",
    )
    parser.add_argument("--pod-ready-delay", type=float, default=0.0, help="seconds until a pod is Ready")
    parser.add_argument(
        "--recreate-delay", type=float, default=0.0, help="seconds before a deleted pod is replaced"
    )
    parser.add_argument(
        "--no-controllers", action="store_true", help="do not run controllers/scheduler/kubelets"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log controller activity")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    emu = Emulator(
        nodes=args.nodes,
        controllers=not args.no_controllers,
        pod_ready_delay=args.pod_ready_delay,
        recreate_delay=args.recreate_delay,
        token=args.token,
        host=args.host,
        port=args.port,
        tls_port=args.tls_port,
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    emu.start()
    try:
        path = emu.write_kubeconfig(args.kubeconfig).resolve()
        if args.sample_workload:
            sample_workload(emu)
            emu.settle()
        print(f"kube-emulator: serving {emu.https_url} (TLS) and {emu.url} (plain HTTP)", flush=True)
        print(f"kubeconfig: {path}", flush=True)
        print(f"try: kubectl --kubeconfig {path} get pods -A", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        emu.stop()
        print("kube-emulator: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
