from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from krkn_airflow_provider.rollback import Journal, Origin, Store, UndoRecord, new_run_uuid
from krkn_airflow_provider.rollback.records import MANAGED_BY, MANAGED_BY_LABEL, NONCE_LABEL, RUN_LABEL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A local S3 server (moto's server mode) in its own process."""
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("moto server did not start")
    yield url
    process.terminate()
    process.wait(10)


S3_OPTIONS = {"key": "testing", "secret": "testing"}


def s3_store(endpoint: str, bucket: str, **kwargs: object) -> Store:
    import boto3
    import s3fs

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    if bucket not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=bucket)
    fs = s3fs.S3FileSystem(**S3_OPTIONS, client_kwargs={"endpoint_url": endpoint, "region_name": "us-east-1"})
    return Store(f"s3://{bucket}/rollback", fs=fs, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """The same store tests run on a local folder and on S3."""
    if request.param == "local":
        return Store(str(tmp_path / "rollback"))
    endpoint = request.getfixturevalue("s3_endpoint")
    return s3_store(endpoint, f"bucket-{new_run_uuid()[:8]}")


def make_journal(
    store: Store, scenario: str = "pod_disruption_scenarios", run_uuid: str | None = None
) -> Journal:
    origin = Origin(
        run_uuid=run_uuid or new_run_uuid(), scenario=scenario, dag_id="gameday", run_id="manual__1"
    )
    return Journal(store, origin)


def delete_record(name: str = "victim", namespace: str = "default") -> UndoRecord:
    # Guarded as every delete a scenario records (the replay policy refuses any other).
    guard = {MANAGED_BY_LABEL: MANAGED_BY, RUN_LABEL: "test", NONCE_LABEL: name}
    return UndoRecord(
        action="delete", api_version="v1", kind="ConfigMap", namespace=namespace, name=name, guard=guard
    )
