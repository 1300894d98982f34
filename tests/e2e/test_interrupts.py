"""Faults: runs interrupted by SIGINT, SIGTERM and SIGKILL at different points, through the
real CLI in processes of their own, one home for the module as a user's would be:

  1. SIGINT during Transform            -> exit 130, one line, no child process left
  2. SIGKILL during Transform (Beam in multi-processing mode: worker processes) -> the
     next command ends the processes the killed run left
  3. SIGTERM during KerasTrainer        -> exit 143, one line, no child process left
  4. a plain re-run                     -> completes, blesses and pushes both models
and a push killed while it copies (pipelines/push.py) leaves no version a server could
see half-written. Every version under serving/ is complete and loadable at the end.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile

import pytest
import tensorflow as tf
from helpers import REPO, SAMPLE_CSV

from pipelines.home import RECORD_FILE, RUN_ID_ENV, processes_of
from tandem.exits import INTERRUPTED

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("interrupts")]
MULTI_PROCESSING = ["--beam-arg=--direct_running_mode=multi_processing", "--beam-arg=--direct_num_workers=2"]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return str(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def temp():
    """The runs' temporary folder (TMPDIR), as short as the system's: infra validation's
    TorchServe puts its worker sockets (107 characters at most) in it."""
    path = tempfile.mkdtemp(prefix="t", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start(home, temp, *beam_args):
    return subprocess.Popen(
        [sys.executable, "-m", "tandem.cli", "run", "all", "--data", SAMPLE_CSV, "--home", home,
         "--train-steps", "100", *beam_args],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": temp})


def interrupt_when(run, component: str, sig, home, settle: float = 3.0) -> tuple[str, str]:
    """Wait until `component` has started, let it work `settle` seconds, then send `sig`.
    Returns the interrupted run's id, and what it printed until then."""
    seen = []
    for line in run.stdout:
        seen.append(line)
        if component in line and line.rstrip().endswith("started"):
            break
    else:
        pytest.fail(f"{component} never started: {run.stderr.read()[-3000:]}")
    time.sleep(settle)
    with open(os.path.join(home, RECORD_FILE)) as f:
        run_id = json.load(f)["run_id"]
    run.send_signal(sig)
    run.wait(120)
    return run_id, "".join(seen)


def outliving(run_id: str, quiet: float = 3.0, limit: float = 30.0) -> list[int]:
    """A killed run's processes once none has ended for `quiet` seconds: some end by themselves
    after it (its branch worker took 2.3 s once its stdin closed)."""
    left, since, deadline = processes_of(run_id), time.monotonic(), time.monotonic() + limit
    while time.monotonic() < deadline and time.monotonic() - since < quiet:
        time.sleep(0.1)
        now = processes_of(run_id)
        if now != left:
            left, since = now, time.monotonic()
    return left


def test_sigint_during_transform_stops_with_130_and_leaves_no_process(home, temp):
    run = start(home, temp)
    run_id, _ = interrupt_when(run, "Transform", signal.SIGINT, home)
    err = run.stderr.read()
    assert run.returncode == INTERRUPTED[signal.SIGINT], err
    assert "interrupted by SIGINT during Transform" in err and "Traceback" not in err
    assert processes_of(run_id) == []
    assert not os.path.exists(os.path.join(home, RECORD_FILE))  # it released the home


def test_after_a_sigkill_the_next_command_ends_what_the_killed_run_left(home, temp):
    run = start(home, temp, *MULTI_PROCESSING)
    run_id, _ = interrupt_when(run, "Transform", signal.SIGKILL, home, settle=6.0)
    assert run.returncode == -signal.SIGKILL
    # What the run left ends by itself, or not: its branch worker (pipelines/local_dag) ends
    # when its stdin closes, after the node it runs; a Beam worker stuck in a bundle would not.
    # So that the next command always has one to end, one more process of the run that never
    # ends by itself: it carries the run's id in its environment, as the run's children do.
    stuck = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                             env={**os.environ, RUN_ID_ENV: run_id})
    try:
        left = outliving(run_id)
        assert stuck.pid in left
        nxt = start(home, temp)
        _, printed = interrupt_when(nxt, "CsvExampleGen", signal.SIGTERM, home, settle=0.0)
        assert processes_of(run_id) == []
        assert stuck.wait(timeout=30) == -signal.SIGTERM  # the next command ended it
    finally:
        if stuck.poll() is None:
            stuck.kill()
            stuck.wait()
    # as many as were still there when it looked: one of the run's own may end by itself meanwhile
    ended = re.search(rf"ending (\d+) process\(es\) left by killed run {run_id}", printed)
    assert ended and 1 <= int(ended[1]) <= len(left), printed
    # The killed run's temporary files (in multi-processing mode, TFX's sdist of itself for
    # each Beam component: ~50 MB) went with it; the next run's own, with that run.
    assert os.listdir(temp) == []


def test_sigterm_during_training_stops_with_143_and_leaves_no_process(home, temp):
    run = start(home, temp)
    run_id, _ = interrupt_when(run, "KerasTrainer", signal.SIGTERM, home, settle=2.0)
    err = run.stderr.read()
    assert run.returncode == INTERRUPTED[signal.SIGTERM], err
    assert "interrupted by SIGTERM during KerasTrainer" in err and "Traceback" not in err
    assert processes_of(run_id) == []


def test_a_rerun_completes_and_pushes_and_every_version_loads(home, temp):
    run = start(home, temp)
    out, err = run.communicate(timeout=900)
    assert run.returncode == 0, err
    assert out.count("blessed: yes") == 2 and out.count("pushed: version") == 2, out
    assert os.listdir(temp) == []  # every run of this module, interrupted or not, removed its temporary files
    versions = os.path.join(home, "serving", "keras", "big_tipper")
    for version in os.listdir(versions):
        if version.isdigit():  # what TF Serving would load
            tf.saved_model.load(os.path.join(versions, version)).signatures["serving_default"]
    store = os.path.join(home, "serving", "torch", "model_store")
    for name in os.listdir(store):
        if name.endswith(".mar"):  # what TorchServe would load
            with zipfile.ZipFile(os.path.join(store, name)) as mar:
                assert {"model.pt", "contract.json", "MAR-INF/MANIFEST.json"} <= set(mar.namelist())
                assert mar.testzip() is None


SLOW_PUSH = """
import os, shutil, sys, time
from pipelines.push import publish
def write(path):  # copies the model one file at a time, slowly: it is killed half-way
    os.makedirs(path)
    for i, name in enumerate(sorted(os.listdir(sys.argv[2]))):
        shutil.copy(os.path.join(sys.argv[2], name), path)
        print("copied", name, flush=True)
        time.sleep(30 if i == 1 else 0)
publish(sys.argv[1], r"(\\d+)", str, "digest-" + sys.argv[3], write)
"""


def test_a_push_killed_half_way_leaves_nothing_a_server_would_load(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    for name in ("a", "b", "c"):
        (model / name).write_text(name)
    base = tmp_path / "serving"
    push = subprocess.Popen([sys.executable, "-c", SLOW_PUSH, str(base), str(model), "1"], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    assert push.stdout.readline().startswith("copied") and push.stdout.readline().startswith("copied")
    push.kill()
    push.wait()
    assert not [n for n in os.listdir(base) if n.isdigit()]  # no version, complete or not
    done = subprocess.run([sys.executable, "-c", SLOW_PUSH.replace("30 if i == 1 else 0", "0"), str(base),
                           str(model), "2"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    (version,) = [n for n in os.listdir(base) if n.isdigit()]
    assert sorted(os.listdir(base / version)) == ["a", "b", "c"]
    assert [n for n in os.listdir(base) if n.startswith(".partial")] == []  # the killed push's leftovers are gone
