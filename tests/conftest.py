"""Shared fixtures."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def run_cli():
    """Run `tandem ...` as users do, in a process of its own: (exit code, stdout, stderr)."""

    def run(*args: str, timeout: float = 900) -> tuple[int, str, str]:
        out = subprocess.run([sys.executable, "-m", "tandem.cli", *args], capture_output=True, text=True,
                             timeout=timeout, cwd=REPO)
        return out.returncode, out.stdout, out.stderr

    return run
