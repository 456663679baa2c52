"""Where runtime data lives, and other defaults, overridable by environment variables.

- NEWSCORPUS_DATA_DIR: the folder for archives and the database (default `data/`);
- NEWSCORPUS_DB: the DuckDB file (default `<data dir>/corpus.duckdb`);
- NEWSCORPUS_WAREHOUSE: which warehouse holds the corpus: `duckdb` (the default: the DuckDB
  file above) or `ducklake:postgres:<libpq string>`, a lake whose catalog is in PostgreSQL;
- NEWSCORPUS_LAKE_DATA: the folder of a lake's Parquet files (default `<data dir>/lake`);
- NEWSCORPUS_DEMO_PORT: the port of the demo site a run starts (default 8765). A fixed port
  keeps the demo's URLs, and so its article ids, the same from one run to the next;
- NEWSCORPUS_EXTRACT_WORKERS: processes that extract pages (default one per core; 0 = none,
  extract in the flow's own process, after the crawl);
- NEWSCORPUS_LOAD_MEMORY: what DuckDB may hold in memory while it writes a DuckDB file
  (default 128MB; the rest it spills to `<file>.tmp`);
- NEWSCORPUS_STAGE_MEMORY: the same, while it stages a run's batch (default 64MB);
- NEWSCORPUS_HOME: the project folder that a worker's flow runs start in (prefect.yaml's pull
  step; default this project's folder).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DEMO_PORT = 8765
PROJECT = Path(__file__).resolve().parents[1]


def data_dir(override: str | Path | None = None) -> Path:
    return Path(override or os.environ.get("NEWSCORPUS_DATA_DIR") or "data")


def db_path(override: str | Path | None = None, data: str | Path | None = None) -> Path:
    return Path(override or os.environ.get("NEWSCORPUS_DB") or data_dir(data) / "corpus.duckdb")


def home() -> Path:
    return Path(os.environ.get("NEWSCORPUS_HOME") or PROJECT)


def warehouse(override: str | None = None) -> str:
    return override or os.environ.get("NEWSCORPUS_WAREHOUSE") or "duckdb"


def lake_data(override: str | Path | None = None, data: str | Path | None = None) -> Path:
    return Path(override or os.environ.get("NEWSCORPUS_LAKE_DATA") or data_dir(data) / "lake")


def demo_port() -> int:
    return int(os.environ.get("NEWSCORPUS_DEMO_PORT") or DEFAULT_DEMO_PORT)


def demo_base_url() -> str:
    """Where runs serve the demo site, and so the prefix of its archived URLs."""
    return f"http://127.0.0.1:{demo_port()}"


def extract_workers() -> int:
    value = os.environ.get("NEWSCORPUS_EXTRACT_WORKERS")
    return int(value) if value else os.cpu_count() or 1


@dataclass(frozen=True)
class MemoryLimit:
    """DuckDB's `memory_limit` while it writes a DuckDB file, unless `variable` names another."""

    variable: str
    default: str

    def value(self) -> str:
        return os.environ.get(self.variable) or self.default


# By default DuckDB takes up to 80% of the machine's memory: a first load of 50k articles grew
# the process by 1.1 GiB in its merge, most of it in indexing them for search. The merge fills
# the limit with the blocks it reads and writes: at 128MB a first 50k run peaked at 531 MiB,
# at 512MB at 630 ("A changed article replaced, not updated, and the merge under 128MB" in
# docs/performance.md); at 128MB merging 200k new articles grew the process as much as
# merging 50k ("The stage under a limit of its own"). At 64MB a 50k merge failed.
LOAD_MEMORY = MemoryLimit("NEWSCORPUS_LOAD_MEMORY", "128MB")
# The stage appends the batch from its Parquet parts, which DuckDB streams: at 64MB staging
# 48,257 articles grew the process by 127 MiB, at 512MB by 264, in as long (by hand;
# docs/performance.md, "The stage under a limit of its own").
STAGE_MEMORY = MemoryLimit("NEWSCORPUS_STAGE_MEMORY", "64MB")


DEFAULT_QUEUE_MEMORY = 5000


def queue_memory() -> int:
    """Requests a crawl keeps waiting in memory; the rest wait on disk (spiders/queue.py).
    In memory, a first crawl of 50,000 articles held some 100 MiB of them."""
    return int(os.environ.get("NEWSCORPUS_QUEUE_MEMORY") or DEFAULT_QUEUE_MEMORY)


# Seconds between a flow run's heartbeats, in commands as in the deployments (prefect.yaml).
HEARTBEAT_SECONDS = 30


def unresponsive_after() -> int:
    """Seconds without a heartbeat after which the server takes a flow run for dead; flow
    runs send one every HEARTBEAT_SECONDS, so it must be more (default 90: three missed)."""
    value = int(os.environ.get("NEWSCORPUS_UNRESPONSIVE_AFTER") or 90)
    if value <= HEARTBEAT_SECONDS:
        raise ValueError(f"NEWSCORPUS_UNRESPONSIVE_AFTER must be more than the heartbeats' "
                         f"{HEARTBEAT_SECONDS} s, got {value}")
    return value


def quiet_prefect_defaults() -> None:
    """Prefect without a server must not phone home, and needs time to start on busy CPUs.

    A command's flow run sends heartbeats as a deployment's does: by Prefect's default (one
    every 180 s), the automation that `deploy` and `server start` create (flows/deploy.py)
    marked a command's run Crashed after 90 s, while it ran."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "60")
    os.environ.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", str(HEARTBEAT_SECONDS))


TEMPORARY_SERVER = "NEWSCORPUS_TEMPORARY_SERVER"  # set by config/server.py for its processes


def on_temporary_server() -> bool:
    """Whether Prefect talks to a command's temporary server, which has no concurrency limits."""
    return os.environ.get(TEMPORARY_SERVER) == "1"
