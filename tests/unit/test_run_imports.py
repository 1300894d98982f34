"""What `tandem run` imports: TFX's own modules, never tfx.v1, whose __init__ imports the
Google Cloud extensions (google.cloud.aiplatform, ~2 s of every run).

Each check runs in a fresh interpreter, since this pytest process may have tfx.v1 loaded.
"""

import json
import os
import subprocess
import sys

from helpers import REPO

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
