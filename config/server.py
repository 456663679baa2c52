"""The Prefect server each command that runs a flow talks to: a configured one, a local one
that outlives commands (`newscorpus server start|stop|status`), or one for the command alone.

PREFECT_API_URL, when set, always wins: a server the user configured is never second-guessed.
Else a server that `newscorpus server start` left running is found through a small state file
in PREFECT_HOME. Else the command starts a temporary server of its own, as Prefect would, but
at once, so that it boots on the other core while the command imports the flows; and without
importing Prefect's server code into the command (seconds), since the command is only its
client.

This module imports no Prefect: it runs before Prefect's settings are read, so that the
address it chooses is the one they read.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from config.settings import TEMPORARY_SERVER

DEFAULT_PORT = 4200
STATE_NAME = "newscorpus-server.json"
LOG_NAME = "newscorpus-server.log"
FIRST_START_LOCK = "newscorpus-first-start.lock"
START_TIMEOUT = 90.0  # seconds; the first start migrates a new database, on a busy CPU
STOP_TIMEOUT = 20.0


class ServerError(RuntimeError):
    """The server could not be started or stopped; the message says why."""


@dataclass(frozen=True)
class LocalServer:
    """What `server start` leaves behind for the later commands: written by `start`, read
    by `running`, removed by `stop`."""

    pid: int
    url: str  # the API's address, as PREFECT_API_URL spells it
    log: str

    @classmethod
    def read(cls, path: Path) -> LocalServer | None:
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(asdict(self)), encoding="utf-8")
        partial.replace(path)


def prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


def state_file() -> Path:
    return prefect_home() / STATE_NAME


def healthy(url: str, timeout: float = 1.0) -> bool:
    """Whether a Prefect API answers its health check at `url`."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout) as answer:
            return bool(answer.status == 200)
    except (OSError, ValueError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running() -> LocalServer | None:
    """The local server `server start` left, if its process lives and its API answers."""
    server = LocalServer.read(state_file())
    if server and _alive(server.pid) and healthy(server.url):
        return server
    return None


@dataclass
class ChosenServer:
    """The server a command talks to; `process` is set when it is the command's own."""

    url: str
    process: subprocess.Popen[bytes] | None = None
    first_start: IO[str] | None = None  # held while this server makes Prefect's database

    def ready(self) -> None:
        """Wait until the command's own server answers (others answer already)."""
        timeout = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", 60))
        deadline = time.monotonic() + timeout
        try:
            while self.process is not None and not healthy(self.url):
                if self.process.poll() is not None:
                    raise ServerError("Prefect's temporary server exited with code "
                                      f"{self.process.returncode} before it answered")
                if time.monotonic() > deadline:
                    raise ServerError(f"Prefect's temporary server did not answer within "
                                      f"{timeout:.0f} s "
                                      "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)")
                time.sleep(0.1)
        finally:
            if self.first_start is not None:
                self.first_start.close()  # and the lock with it
                self.first_start = None


def _first_start() -> IO[str] | None:
    """While Prefect's own database (SQLite, in PREFECT_HOME) is not made yet, an exclusive
    lock on a file beside it, held until this command's server answers: two commands
    started at once on a new machine would both migrate the new database, and one server
    fails ("Online migration expected to match one row"). None once the database exists,
    or when it is elsewhere (PREFECT_API_DATABASE_CONNECTION_URL)."""
    home = prefect_home()
    database = home / "prefect.db"
    if database.exists() or os.environ.get("PREFECT_API_DATABASE_CONNECTION_URL"):
        return None
    home.mkdir(parents=True, exist_ok=True)
    lock = open(home / FIRST_START_LOCK, "w")  # noqa: SIM115 - closed by ChosenServer.ready
    fcntl.flock(lock, fcntl.LOCK_EX)  # while another command's server makes the database
    if database.exists():
        lock.close()
        return None
    return lock


def configured_or_local() -> str | None:
    """PREFECT_API_URL, else the address of the local server that runs (then exported as
    PREFECT_API_URL, for Prefect to read); None when there is neither."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    if (server := running()) is not None:
        os.environ["PREFECT_API_URL"] = server.url
        return server.url
    return None


def server_for_command() -> ChosenServer:
    """Point Prefect at the server to use, before Prefect is imported: the configured one
    (PREFECT_API_URL), else a running local one, else a temporary one of the command's own,
    started now and stopped at exit; call `ready` before the first flow.

    Prefect reads its settings once, as it is imported. Imported before this chose a server
    that PREFECT_API_URL does not name, it would start an ephemeral server of its own beside
    the chosen one, and at exit wait 5 s for logs that server can no longer take: a bug in
    the command, so it fails."""
    if not os.environ.get("PREFECT_API_URL") and "prefect" in sys.modules:
        raise RuntimeError("Prefect was imported before the command chose its server")
    if (url := configured_or_local()) is not None:
        return ChosenServer(url)
    return temporary_server()


def temporary_server() -> ChosenServer:
    """Prefect's temporary server, started as Prefect starts it (uvicorn on its app factory,
    no UI, on a free port, over Prefect's database in PREFECT_HOME), named by PREFECT_API_URL,
    and stopped at exit, after Prefect's own exit handlers (registered later, so run first)
    have sent the last logs and events."""
    spec = importlib.util.find_spec("prefect")
    assert spec and spec.submodule_search_locations, "prefect is not installed"
    first_start = _first_start()
    port = _free_port()
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
           "PREFECT__SERVER_FINAL": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir",
         str(Path(spec.submodule_search_locations[0]).parent), "--factory",
         "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "error", "--lifespan", "on"], env=env, stdin=subprocess.DEVNULL)
    atexit.register(_stop_child, process)
    chosen = ChosenServer(f"http://127.0.0.1:{port}/api", process, first_start)
    os.environ["PREFECT_API_URL"] = chosen.url
    os.environ["PREFECT_UI_URL"] = ""  # no UI: no "View at" link that dies with the server
    os.environ[TEMPORARY_SERVER] = "1"
    return chosen


def _stop_child(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start(port: int = DEFAULT_PORT) -> LocalServer:
    """Start `prefect server start` on 127.0.0.1:`port` in a session of its own, wait until
    it answers, and leave the state file. A server already running is returned as it is."""
    if (server := running()) is not None:
        return server
    if not _port_free(port):
        raise ServerError(f"port {port} on 127.0.0.1 is in use: stop what uses it, or give "
                          "--port")
    home = prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    log = home / LOG_NAME
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    env.pop("PREFECT_API_URL", None)  # the server itself is no client of another
    prefect = Path(sys.executable).with_name("prefect")
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)  # outlives this command and its terminal's Ctrl-C
    server = LocalServer(pid=process.pid, url=f"http://127.0.0.1:{port}/api", log=str(log))
    deadline = time.monotonic() + START_TIMEOUT
    while not healthy(server.url):
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise ServerError(f"the Prefect server exited with code {process.returncode}: "
                              + " / ".join(tail) + f" (log: {log})")
        if time.monotonic() > deadline:
            _terminate(process.pid)
            raise ServerError(f"the Prefect server did not answer within {START_TIMEOUT:.0f} s "
                              f"(log: {log})")
        time.sleep(0.2)
    server.write(state_file())
    return server


def stop() -> LocalServer | None:
    """Stop the local server, if one was started; returns what was stopped."""
    path = state_file()
    server = LocalServer.read(path)
    if server is None:
        return None
    if _alive(server.pid):
        _terminate(server.pid)
    path.unlink(missing_ok=True)
    return server


def _terminate(pid: int) -> None:
    """SIGTERM to the server's whole session (the server and its workers), then SIGKILL."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return  # our own child, reaped
        except ChildProcessError:  # not our child: the state file's server
            if not _alive(pid):
                return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
