"""`newscorpus run ARGS...`, with the database taken by another process as the load starts
(for test_hardening.py).

    python tests/busy_load.py SECONDS -- run --base-url ... --db ... --data-dir ...

Just before the load (its staging) opens the database, a child process opens it for writing
and holds it for SECONDS; the time it took hold is written to `held_at` beside the database.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def main() -> None:
    seconds, args = float(sys.argv[1]), sys.argv[sys.argv.index("--") + 1:]
    from flows import process
    from newscorpus import cli

    stage_run = process.stage_run

    def taken(db: Path, *rest: Any, **named: Any) -> Any:
        holder = subprocess.Popen([sys.executable, "-c", (
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', "
            f"flush=True); time.sleep({seconds})"), str(db)], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True)  # nothing of ours held open: we end first
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        Path(db).with_name("held_at").write_text(str(time.time()))
        return stage_run(db, *rest, **named)

    process.stage_run = taken  # type: ignore[assignment]
    sys.argv = ["newscorpus", *args]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
