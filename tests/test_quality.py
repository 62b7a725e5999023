"""The code stays clean: ruff over everything, mypy strict over the package (the same checks
as `nox -s lint typecheck`, so CI enforces them too)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


class TestQuality:
    def test_ruff_finds_nothing(self) -> None:
        """ruff reports no problem in the package, tests, mock gateway and scripts."""
        done = subprocess.run(
            [sys.executable, "-m", "ruff", "check", "paycli", "tests", "mock_gateway.py",
             "scripts", "noxfile.py"],
            cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

    @pytest.mark.slow
    def test_mypy_strict_passes(self) -> None:
        """mypy --strict (configured in pyproject.toml) passes on the package."""
        done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
