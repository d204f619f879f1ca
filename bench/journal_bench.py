"""P1 durable record write and P3 listing, each against a bare baseline in the same process."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.common import Result, median, percentile, scratch, timed
from krkn_airflow_provider.rollback import (
    Journal,
    Origin,
    Store,
    UndoRecord,
    naming,
    new_run_uuid,
    versionfile,
)


def _record(journal: Journal) -> UndoRecord:
    return UndoRecord(
        action="delete",
        api_version="v1",
        kind="Pod",
        namespace="payments",
        name="krkn-hog-cpu-worker-1",
        guard=journal.object_labels(),
    )


def p1_durable_write(count: int = 1000, burst: int = 16) -> list[Result]:
    """Render + check + write + fsync + rename + folder fsync, vs write + fsync + rename of the
    same bytes; one record at a time, and in bursts sharing one folder fsync (group commit).
    The note splits the cost by guarantee, each step timed on its own."""
    with scratch() as tmp:
        store = Store(str(Path(tmp) / "journal"))
        journal = Journal(store, Origin(run_uuid=new_run_uuid(), scenario="hog_scenarios", dag_id="bench"))
        record = _record(journal)
        journal.record(record)  # create the context outside the measurement
        stamped = record.model_copy(update={"origin": journal.origin})
        name = "hog_scenarios_1764460000000000000_abcdefgh.py"
        data = versionfile.render(stamped, file_name=name).encode()
        bare_dir = Path(tmp) / "bare"
        bare_dir.mkdir()
        ours: list[float] = []
        bare: list[float] = []
        synced: list[float] = []
        grouped: list[float] = []
        bare_grouped: list[float] = []

        def bare_write(index: int) -> None:
            temp = bare_dir / f".tmp-{index}"
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
            os.rename(temp, bare_dir / f"hog_scenarios_{index}_abcdefgh.py")

        def synced_write(index: int) -> None:
            # What the guarantee alone costs: the bare write plus the folder fsync that makes
            # the rename survive a crash; no rendering, no check.
            bare_write(count + index)
            fd = os.open(bare_dir, os.O_RDONLY | os.O_DIRECTORY)
            os.fsync(fd)
            os.close(fd)

        records = [record] * burst

        def burst_of_records() -> None:
            journal.record_burst(records)

        def burst_of_bare(start: int) -> None:
            for index in range(start, start + burst):
                bare_write(index)

        cpu_ours = cpu_bare = 0.0
        for index in range(count):
            # Interleaved, so both see the same disk and cache conditions.
            started = time.process_time()
            ours.append(timed(journal.record, record))
            middle = time.process_time()
            bare.append(timed(bare_write, index))
            cpu_ours, cpu_bare = cpu_ours + middle - started, cpu_bare + time.process_time() - middle
            synced.append(timed(synced_write, index))
        for start in range(2 * count, 3 * count, burst):
            grouped.append(timed(burst_of_records) / burst)
            bare_grouped.append(timed(burst_of_bare, start) / burst)
        folder = str(bare_dir)

        def folder_fsync() -> None:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            os.fsync(fd)
            os.close(fd)

        steps = {
            "folder fsync": [timed(folder_fsync) for _ in range(200)],
            "render": [timed(versionfile.render, stamped, file_name=name) for _ in range(200)],
            "cheap check": [
                timed(versionfile.render_checked, stamped, file_name=name)
                - timed(versionfile.render, stamped, file_name=name)
                for _ in range(200)
            ],
            "full parse-back": [timed(versionfile.parse, data.decode(), source=name) for _ in range(200)],
        }
    split = ", ".join(f"{step} {median(values) * 1000:.3f} ms" for step, values in steps.items())
    split += f"; CPU per record {cpu_ours / count * 1000:.3f} ms, bare {cpu_bare / count * 1000:.3f} ms"
    return [
        Result("P1 durable record write, median", median(ours), median(bare), "ms", "<= 1.3x", note=split),
        Result("P1 durable record write, p99", percentile(ours, 0.99), percentile(bare, 0.99), "ms"),
        Result(
            "P1 the guarantee alone (bare write + folder fsync), median",
            median(synced),
            median(bare),
            "ms",
            note="the floor the one-at-a-time write cannot go under: a second journal commit for the rename",
        ),
        Result(
            f"P1 durable write in bursts of {burst} (group commit), median per record",
            median(grouped),
            median(bare_grouped),
            "ms",
            "<= 1.3x",
        ),
    ]


def _fill(root: Path, runs: int, per_run: int) -> None:
    """``runs`` contexts of ``per_run`` records each: hard links of one real version file."""
    origin = Origin(run_uuid=new_run_uuid(), scenario="pod_disruption_scenarios")
    template = root / "template.py"
    record = UndoRecord(action="delete", api_version="v1", kind="Pod", namespace="n", name="p", origin=origin)
    text = versionfile.render(record, file_name="template.py")
    base = time.time_ns()
    for run in range(runs):
        context = root / naming.context_name(base + run, new_run_uuid())
        context.mkdir()
        template.unlink(missing_ok=True)
        template.write_text(text)  # a fresh inode per run: file systems cap links per inode
        for index in range(per_run):
            name = naming.record_stem("pod_disruption_scenarios", base + run * per_run + index, "abcdefgh")
            ext = naming.EXECUTED_EXT if index % 2 else naming.PENDING_EXT
            os.link(template, context / (name + ext))
    template.unlink()


def _bare_walk(root: Path) -> int:
    count = 0
    with os.scandir(root) as runs:
        for run in runs:
            count += len(os.listdir(run.path))
    return count


def p3_list(runs: int = 1000, per_run: int = 100) -> list[Result]:
    """`krkn-rollback list` over runs x per_run records, vs a bare scandir walk of the same tree."""
    import io

    from krkn_airflow_provider import cli

    with scratch() as tmp:
        root = Path(tmp) / "journal"
        root.mkdir()
        _fill(root, runs, per_run)
        assert _bare_walk(root) == runs * per_run
        entries = len(Store(str(root)).entries())
        assert entries == runs * per_run, entries
        ours = min(
            timed(lambda: cli.main(["--location", str(root), "list"], out=io.StringIO())) for _ in range(3)
        )
        bare = min(timed(lambda: _bare_walk(root)) for _ in range(3))
    label = f"P3 krkn-rollback list, {runs * per_run:,} records in {runs:,} runs (local)"
    return [Result(label, ours, bare, "s", "< 1 s")]


def p3_list_s3(endpoint: str, runs: int = 100, per_run: int = 100) -> list[Result]:
    """The same listing on S3 (a local moto server), vs a bare recursive listing of the bucket."""
    import io

    import boto3
    import s3fs

    from krkn_airflow_provider import cli

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = f"bench-{new_run_uuid()[:8]}"
    client.create_bucket(Bucket=bucket)
    origin = Origin(run_uuid=new_run_uuid(), scenario="pod_disruption_scenarios")
    record = UndoRecord(action="delete", api_version="v1", kind="Pod", namespace="n", name="p", origin=origin)
    body = versionfile.render(record, file_name="x.py").encode()
    base = time.time_ns()
    for run in range(runs):
        context = naming.context_name(base + run, new_run_uuid())
        for index in range(per_run):
            name = naming.record_stem("pod_disruption_scenarios", base + run * per_run + index, "abcdefgh")
            client.put_object(Bucket=bucket, Key=f"rollback/{context}/{name}.py", Body=body)
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_ENDPOINT_URL=endpoint)
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint, "region_name": "us-east-1"})

    def ours() -> None:
        store = Store(f"s3://{bucket}/rollback", fs=fs)
        assert len(store.entries()) == runs * per_run

    def bare() -> None:
        paginator = client.get_paginator("list_objects_v2")
        count = sum(
            len(page.get("Contents", [])) for page in paginator.paginate(Bucket=bucket, Prefix="rollback/")
        )
        assert count == runs * per_run

    del cli, io
    label = f"P3 list, {runs * per_run:,} records in {runs} runs (S3, local moto server)"
    return [Result(label, min(timed(ours) for _ in range(2)), min(timed(bare) for _ in range(2)), "s")]
