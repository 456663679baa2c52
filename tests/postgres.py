"""A throwaway PostgreSQL cluster for the lake tests: Debian's binaries (`.ci/run` installs
them where missing), initdb into a temporary folder, a free port on 127.0.0.1, stopped by PID.

As root (CI), the server runs as the `postgres` user, which PostgreSQL requires.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

USER = "newscorpus"


def binaries() -> Path:
    """The folder of initdb and pg_ctl: the newest of Debian's /usr/lib/postgresql/<N>/bin."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries in /usr/lib/postgresql: "
                           "install Debian's postgresql package (.ci/run does)")
    return found[-1].parent


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def cluster(root: Path, port: int, durable: bool = False) -> Iterator[dict[str, str | int]]:
    """A running cluster in `root`, its superuser `newscorpus` trusted on 127.0.0.1; without
    fsync unless `durable` (tests need no durability; a benchmark needs a real server's)."""
    bin_dir = binaries()
    data = root / "data"
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        server = pwd.getpwnam("postgres")
        os.chown(root, server.pw_uid, server.pw_gid)
    subprocess.run(_as_server_user([str(bin_dir / "initdb"), "-D", str(data), "-U", USER,
                                    "--auth=trust", "-E", "UTF8", "--no-sync"]),
                   check=True, capture_output=True)
    # 300 connections, not PostgreSQL's 100: one cluster serves a test worker's lake
    # catalogs, their concurrent backfills and readers, and Prefect's server on PostgreSQL.
    server_process = subprocess.Popen(_as_server_user([
        str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(root),
        "-c", "listen_addresses=127.0.0.1", "-c", f"fsync={'on' if durable else 'off'}",
        "-c", "max_connections=300"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid_file = data / "postmaster.pid"
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                             capture_output=True, check=False).returncode != 0:
            assert server_process.poll() is None and time.monotonic() < deadline, \
                "PostgreSQL did not start"
            time.sleep(0.2)
        yield {"host": "127.0.0.1", "port": port, "user": USER, "bin": str(bin_dir)}
    finally:
        pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else server_process.pid
        os.kill(pid, signal.SIGINT)  # fast shutdown
        try:
            server_process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(pid, signal.SIGKILL)
            server_process.wait()
        shutil.rmtree(root, ignore_errors=True)


def create_database(server: dict[str, str | int], name: str) -> str:
    """A new database on the cluster; its DuckLake catalog string.

    It is copied from template0, which takes no connections: copying template1 fails while
    anything else is connected to it. A failure says what createdb said."""
    done = subprocess.run([f"{server['bin']}/createdb", "-h", str(server["host"]), "-p",
                           str(server["port"]), "-U", USER, "-T", "template0", name],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"createdb {name} failed: {done.stderr.strip()}")
    return f"postgres:dbname={name} host={server['host']} port={server['port']} user={USER}"
