"""The code follows the project's lint rules (pyproject.toml, [tool.ruff])."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PACKAGES = ("newscorpus", "config", "demosite", "sites", "spiders", "extract", "imports",
            "expectations", "warehouse", "reports", "flows")


def test_ruff_finds_nothing():
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-m", "ruff", "check", str(root)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing():
    """Type hints hold (pyproject.toml, [tool.mypy]); the stage contracts are fully typed."""
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=root, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_flows_hold_only_prefect_code():
    """Plain code lives with its stage; flows/ is flows, tasks and deployments."""
    root = Path(__file__).resolve().parents[1]
    plain = [path.name for path in sorted((root / "flows").glob("*.py"))
             if path.name != "__init__.py"
             and not re.search(r"^(from|import) prefect\b", path.read_text(), re.M)]
    assert plain == []


def test_one_module_reads_and_writes_the_manifest():
    root = Path(__file__).resolve().parents[1]
    owners = {str(path.relative_to(root)) for folder in PACKAGES
              for path in (root / folder).rglob("*.py")
              if re.search(r"MANIFEST_NAME\b|\"event\"", path.read_text())}
    assert owners == {"spiders/manifest.py"}
