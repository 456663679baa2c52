"""A benchmark's scratch folder, removed when the script exits.

A benchmark writes corpora, archives and Prefect homes: about half a GiB at 50k articles,
several GiB at 200k. Left in the temporary folder, every run's would pile up there.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path


def folder(prefix: str) -> Path:
    """A new folder under the temporary folder, removed (with all in it) at the script's exit,
    a failed one's too; not when the process is killed."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path
