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


@pytest.hookimpl(trylast=True)  # after pytest-xdist's, which adds each test's group to its node id
def pytest_collection_modifyitems(config, items):
    _check_groups(config, items)
    _skip_gpu_tests_without_a_gpu(items)


def _check_groups(config, items):
    """Modules that share an expensive fixture (a whole pipeline run) are one xdist_group, run
    by one worker. If pytest-xdist could not mark the groups (it sets node ids, and a pytest it
    does not know may not let it), `--dist loadgroup` silently spreads each group over every
    worker and each worker pays for the fixture again: stop instead."""
    if not getattr(config.option, "loadgroup", False):  # set in pytest-xdist's workers under loadgroup
        return
    lost = [item.nodeid for item in items if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
    if lost:
        raise pytest.UsageError(f"pytest-xdist did not group {len(lost)} tests (e.g. {lost[0]}): this "
                                "pytest is newer than pytest-xdist supports; install requirements.lock's")


def _skip_gpu_tests_without_a_gpu(items):
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

