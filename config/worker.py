"""This machine's worker on the pool (`newscorpus worker`): Prefect's own process worker,
started so that one Ctrl-C or one SIGTERM stops it, however it was started.

Prefect's worker stops on SIGINT, and answers SIGTERM by sending itself SIGINT. A program
that a shell script starts in the background (`cmd &`) inherits SIGINT ignored, and so
would such a worker: it ignored both signals until a second one killed it. This module
gives the worker SIGINT back at its default and then becomes it (exec): it imports no
Prefect itself (as config/server.py, it runs before Prefect does), and the worker is the
process its starter holds.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import NoReturn

from config import settings

POOL = "newscorpus"
# What the flows a worker runs read from its environment (config/settings.py, prefect.yaml).
_ENVIRONMENT = ("NEWSCORPUS_HOME", "NEWSCORPUS_DATA_DIR", "NEWSCORPUS_DB",
                "NEWSCORPUS_WAREHOUSE", "NEWSCORPUS_LAKE_DATA", "NEWSCORPUS_DEMO_PORT")


def worker_argv(queues: list[str], limit: int | None, run_once: bool,
                name: str | None) -> list[str]:
    """`prefect worker start` on the pool, as this interpreter runs it."""
    return [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL,
            *(arg for queue in queues for arg in ("--work-queue", queue)),
            *(["--limit", str(limit)] if limit is not None else []),
            *(["--run-once"] if run_once else []),
            *(["--name", name] if name else [])]


def environment(api_url: str) -> dict[str, str]:
    """The environment the worker and its flow runs get: this one, with the server it was
    given and the project folder the flow runs start in."""
    return {**os.environ, "PREFECT_API_URL": api_url, "NEWSCORPUS_HOME": str(settings.home())}


def described(env: dict[str, str]) -> list[str]:
    """The settings the flows will read, as lines `NAME=value` (or `NAME: default`)."""
    return [f"{name}={env[name]}" if env.get(name) else f"{name}: default"
            for name in ("PREFECT_API_URL", *_ENVIRONMENT)]


def become_worker(argv: list[str], env: dict[str, str]) -> NoReturn:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execve(argv[0], argv, env)
