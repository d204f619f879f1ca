"""Run the benchmarks and print one table: `python -m bench.run [--quick]`.

Every benchmark runs its baseline in the same process on the same data and reports the
ratio; see docs/performance.md for the numbers and the machine they came from.
"""

from __future__ import annotations

import argparse

from bench import emulator_bench, journal_bench, replay_bench, topology_bench
from bench.common import Result, print_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--s3-endpoint", help="a local S3 server for the S3 listing benchmark")
    parser.add_argument(
        "--no-topology", action="store_true", help="skip P6 (it starts Postgres, Redis, S3, Airflow)"
    )
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    results: list[Result] = []
    results += journal_bench.p1_durable_write(1000 // scale)
    results += journal_bench.p3_list(1000 // scale, 100)
    results += replay_bench.p2_replay((100, 1000) if args.quick else (100, 1000, 10000))
    results += replay_bench.p2c_cli_process(100 if args.quick else 1000)
    results += replay_bench.p4_pod_disruption(100 if args.quick else 1000)
    results += replay_bench.p5_memory((100, 1000) if args.quick else (1000, 10000))
    results += emulator_bench.p7_emulator_pods(200 if args.quick else 2000)
    if args.s3_endpoint:
        results += journal_bench.p3_list_s3(args.s3_endpoint, 100 // scale, 100)
    if not args.no_topology:
        results += topology_bench.p6_handoff(2 if args.quick else 5)
    print_table(results)


if __name__ == "__main__":
    main()
