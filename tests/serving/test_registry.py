"""serving/registry.wait_until: how every server start waits for its server, and what its
errors say. Real child processes that write a log, as a server does."""

import subprocess
import sys
import time

import pytest

from serving import registry


def server(log, code: str) -> subprocess.Popen:
    with open(log, "w") as f:
        return subprocess.Popen([sys.executable, "-c", code], stdout=f, stderr=subprocess.STDOUT)


def test_a_server_never_ready_times_out_with_the_end_of_its_log(tmp_path):
    log = tmp_path / "server.log"
    process = server(log, "import time; print('loading the model from /models/x', flush=True); time.sleep(60)")
    try:
        deadline = time.time() + 60  # a loaded machine may start the interpreter slowly
        while "loading the model" not in log.read_text() and time.time() < deadline:
            time.sleep(0.05)
        with pytest.raises(registry.ServingError,
                           match=r"(?s)the server was not ready after 1s; the end of its log .*loading the model"):
            registry.wait_until(lambda: False, 1, process, log=str(log))
        assert process.poll() is None  # the caller ends it, as every start does
    finally:
        process.kill()
        process.wait()


def test_a_server_that_exits_says_so_with_the_end_of_its_log(tmp_path):
    log = tmp_path / "server.log"
    process = server(log, "import sys; print('OSError: [Errno 98] address already in use'); sys.exit(3)")
    with pytest.raises(registry.ServingError, match=r"(?s)exited with status 3 before it was ready.*Errno 98"):
        registry.wait_until(lambda: False, 30, process, log=str(log))


def test_a_ready_server_returns_at_once(tmp_path):
    calls = []
    registry.wait_until(lambda: calls.append(1) or len(calls) == 3, 30)
    assert len(calls) == 3
