"""The one `tandem run all` on the taxi sample that several e2e modules read (a run costs
about a minute): through the real CLI, in a process of its own, once per test session."""

import pytest
from helpers import run_all


@pytest.fixture(scope="session")
def taxi_run(tmp_path_factory):
    """(home, stdout) of a first `tandem run all` on the sample: both branches trained,
    blessed and pushed. Modules that run again in this home go in the same xdist group."""
    home = str(tmp_path_factory.mktemp("taxi_home"))
    out = run_all(home)
    assert out.returncode == 0, out.stdout + out.stderr
    return home, out.stdout
