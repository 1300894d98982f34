"""What `tandem run` imports: TFX's own modules, never tfx.v1, whose __init__ imports the
Google Cloud extensions (google.cloud.aiplatform, ~2 s of every run); and nothing of
TensorFlow while it checks its arguments.

Each check runs in a fresh interpreter, since this pytest process may have tfx.v1 loaded.
"""

import json
import os
import subprocess
import sys

from helpers import REPO, SAMPLE_CSV

RUN_PATH = ("pipelines.pipeline", "pipelines.runner", "reporting.summary", "tandem.commands.pipeline")
NOT_IMPORTED = ("tfx.v1", "google.cloud.aiplatform")


def loaded_after_importing(*modules: str) -> list[str]:
    """Which of NOT_IMPORTED a fresh interpreter has loaded after importing `modules`."""
    code = "\n".join([
        "import importlib, json, sys",
        f"for module in {modules!r}:",
        "    importlib.import_module(module)",
        f"print(json.dumps([m for m in {NOT_IMPORTED!r} if m in sys.modules]))",
    ])
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**os.environ, "PYTHONPATH": REPO},
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def test_the_check_sees_tfx_v1():
    assert loaded_after_importing("tfx.v1") == list(NOT_IMPORTED)


def test_the_run_path_does_not_import_tfx_v1():
    assert loaded_after_importing(*RUN_PATH) == []


def test_the_argument_checks_import_no_tensorflow(tmp_path):
    """`tandem run` checks its arguments (data, schema, Beam options) before TensorFlow's
    imports: a refusal comes at once, and TensorFlow's start-up lines go to the run's log, not
    ahead of it on the terminal. Here the last check refuses."""
    argv = ["tandem", "run", "tf", "--data", SAMPLE_CSV, "--home", str(tmp_path),
            "--beam-arg=--direct_running_mode=multi_threading"]
    code = "\n".join([
        "import runpy, sys",
        f"sys.argv = {argv!r}",
        "try:",
        "    runpy.run_module('tandem.cli', run_name='__main__')",
        "except SystemExit as stop:",
        "    print(stop.code, 'tensorflow' in sys.modules, 'tfx' in sys.modules)",
    ])
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**os.environ, "PYTHONPATH": REPO},
                         capture_output=True, text=True)
    assert "multi_threading is refused" in out.stderr, out.stderr
    assert out.stdout.split() == ["2", "False", "False"], out.stdout + out.stderr
