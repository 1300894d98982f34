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


def pytest_collection_modifyitems(config, items):
    """`@pytest.mark.gpu` tests run where PyTorch sees a CUDA device, and are reported skipped,
    with the reason, everywhere else (CI's machines have no GPU). Asked only if one is marked."""
    marked = [item for item in items if item.get_closest_marker("gpu")]
    if not marked:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU: torch.cuda.is_available() is False on this machine "
                                   "(these tests run on the accelerator machine)")
    for item in marked:
        item.add_marker(skip)
