"""`pip install .` (not editable) into a fresh virtual environment, then the main command from a
folder outside the source tree: what a user who installs the package gets.

The wheel is built from this checkout and installed with no dependencies; the fresh
environment borrows the dependencies of the test environment through a .pth file (a line per
folder: that folder's own .pth files, the editable install's among them, are not run), so the
test reaches no package index and never imports the source tree by accident.
"""

from __future__ import annotations

import site
import subprocess
import sys
import venv
from pathlib import Path

from conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def test_a_wheel_installed_in_a_fresh_venv_runs_the_demo(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", str(ROOT), "-w", str(tmp_path / "wheel")],
                   check=True, capture_output=True, text=True)
    (wheel,) = (tmp_path / "wheel").glob("newscorpus-*.whl")
    env_dir = tmp_path / "fresh"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "borrowed.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True,
                   text=True)
    where = subprocess.run([python, "-c", "import flows, warehouse; print(flows.__file__); "
                            "print(warehouse.__file__)"], cwd=tmp_path, check=True,
                           capture_output=True, text=True).stdout
    assert str(ROOT) not in where and purelib in where

    outside = tmp_path / "elsewhere"
    (outside / "sites").mkdir(parents=True)  # a user's own folder named like a package
    result = subprocess.run([env_dir / "bin" / "newscorpus", "run", "--json"], cwd=outside,
                            capture_output=True, text=True, timeout=600, check=False,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                 "NEWSCORPUS_DEMO_PORT": str(free_port()),
                                 "PREFECT_HOME": str(tmp_path / "prefect"),
                                 "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "240"})
    assert result.returncode == 0, result.stderr[-3000:]
    summary = result.stdout.splitlines()[-1]
    assert '"status": "completed"' in summary and '"new": 0' not in summary
    assert (outside / "data" / "corpus.duckdb").is_file()
    views = subprocess.run([env_dir / "bin" / "newscorpus", "sql",
                            "select count(*) from articles_per_day"], cwd=outside,
                           capture_output=True, text=True, check=False)
    assert views.returncode == 0 and int(views.stdout) > 0, views.stderr
