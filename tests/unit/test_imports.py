"""pipelines/imports.py: a process that runs TFX's components does not load PyTorch.

Each check runs in a fresh interpreter, as `tandem run` and its worker start."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)


def test_tfx_components_import_without_pytorch_and_beam_treats_it_as_absent():
    out = _python(
        "import sys\n"
        "from pipelines.imports import without_pytorch\n"
        "without_pytorch()\n"
        "import tfx.components\n"  # every TFX component, BulkInferrer's Beam RunInference too
        "from apache_beam.ml.inference import base\n"
        "print('torch' in sys.modules, base.ModelManager)\n"
        "try:\n"
        "    import torch\n"
        "except ModuleNotFoundError as error:\n"
        "    print(type(error).__name__, error.name)\n")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == ["False None", "ModuleNotFoundError torch"]


def test_without_the_refusal_tfx_components_load_pytorch():
    """Why the refusal exists: if a Beam or TFX release stops importing PyTorch here, this
    fails, and pipelines/imports.py can go."""
    out = _python("import sys, tfx.components; print('torch' in sys.modules)")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True"]
