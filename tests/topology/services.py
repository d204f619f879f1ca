"""The bed's services: Postgres (metadata DB), Redis (Celery broker), moto's S3 server.

Each runs in its own process group, started through ``Bed.spawn`` (pid kept, stopped by pid).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.topology.waiting import free_port, wait_for

if TYPE_CHECKING:
    from tests.topology.bed import Bed

BIN = Path(sys.executable).parent
BUCKET = "krkn-journal"


def postgres_bin(name: str) -> str:
    """``initdb``/``postgres`` from PATH, /usr/local/bin or Debian's /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    for candidate in [
        Path("/usr/local/bin") / name,
        *sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}")),
    ]:
        if candidate.exists():
            return str(candidate)
    raise FileNotFoundError(f"{name} not found: run scripts/bootstrap.sh (installs Debian's postgresql)")


def redis_bin() -> str:
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(found).exists():
        raise FileNotFoundError(
            "redis-server not found: run scripts/bootstrap.sh (installs Debian's redis-server)"
        )
    return found


def start_postgres(bed: Bed) -> str:
    data = Path(bed.root) / "pgdata"
    sockets = Path(bed.root) / "pgsock"
    sockets.mkdir(exist_ok=True)
    user = "postgres" if os.geteuid() == 0 else None
    if user:
        import pwd

        try:
            pwd.getpwnam(user)
        except KeyError:
            raise RuntimeError(
                "initdb refuses to run as root and there is no user 'postgres': install Debian's "
                "postgresql (scripts/bootstrap.sh) or create it (useradd --system postgres)"
            ) from None
    if user:  # initdb refuses to run as root
        shutil.chown(bed.root, user)
        shutil.chown(sockets, user)
    subprocess.run(
        [postgres_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        user=user,
        timeout=120,
    )
    port = free_port()
    argv = [postgres_bin("postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets), "-h", "127.0.0.1"]
    argv += ["-c", "fsync=off", "-c", "max_connections=200"]
    bed.spawn("postgres", argv, env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}, user=user)

    import psycopg2

    def connect() -> Any:
        return psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")

    conn = wait_for(connect, timeout=30, what="postgres to accept connections")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("CREATE DATABASE airflow")
    conn.close()
    return f"postgresql+psycopg2://postgres@127.0.0.1:{port}/airflow"


def start_redis(bed: Bed) -> str:
    port = free_port()
    argv = [redis_bin(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    bed.spawn("redis", [*argv, "--dir", bed.root], env={"PATH": os.environ.get("PATH", "")})

    def ping() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    wait_for(ping, timeout=20, what="redis to answer PING")
    return f"redis://127.0.0.1:{port}/0"


def start_s3(bed: Bed) -> str:
    port = free_port()
    bed.spawn("s3", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], env=dict(os.environ))
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: urllib.request.urlopen(url, timeout=2).status == 200, timeout=30, what="moto S3 server")
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=BUCKET)
    return url
