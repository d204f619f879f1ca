"""Run DAGs one after the other in one process, as ``airflow dags test`` does (``dag.test()``).

The demo runs two DAGs; one process pays Airflow's start-up (imports, the in-process
execution API) once instead of twice. Each run's output goes to its own log file; one
line per run (``<dag_id> <state>``) goes to stdout.

usage: python scripts/demo_runs.py DAG_ID CONF_JSON LOG [DAG_ID CONF_JSON LOG ...]
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    if not argv or len(argv) % 3:
        print(__doc__, file=sys.stderr)
        return 2
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=conf.get("core", "dags_folder"))
    if bag.import_errors:
        print(f"DAG import errors: {bag.import_errors}", file=sys.stderr)
        return 1
    stdout, stderr = os.dup(1), os.dup(2)
    worst = 0
    for index in range(0, len(argv), 3):
        dag_id, run_conf, log = argv[index], json.loads(argv[index + 1]), argv[index + 2]
        dag = bag.get_dag(dag_id)
        if dag is None:
            print(f"no DAG {dag_id}", file=sys.stderr)
            return 1
        sys.stdout.flush()
        sys.stderr.flush()
        with open(log, "ab") as handle:
            os.dup2(handle.fileno(), 1)
            os.dup2(handle.fileno(), 2)
            try:
                state = str(getattr(dag.test(run_conf=run_conf), "state", "unknown"))
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(stdout, 1)
                os.dup2(stderr, 2)
        os.write(stdout, f"{dag_id} {state}\n".encode())
        worst = max(worst, 0 if state == "success" else 1)
    return worst


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
