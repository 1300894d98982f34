"""Shared fixtures."""

import pytest


@pytest.fixture
def run_cli(capfd):
    """Run `tandem ...` in-process; returns (exit code, stdout, stderr)."""
    from tandem.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main(list(args))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 2
        out, err = capfd.readouterr()
        return code, out, err

    return run
