"""Run PyTorch runtime code in a fresh interpreter, then check TensorFlow never got loaded.

    python tests/unit/tf_free_runner.py import MODULE         import MODULE
    python tests/unit/tf_free_runner.py run MODULE ARGS...    python -m MODULE ARGS..., in this process

Exits with an AssertionError (status 1) when `tensorflow` is in sys.modules at the end.
"""

import importlib
import runpy
import sys


def main(mode: str, module: str, *args: str) -> None:
    if mode == "import":
        importlib.import_module(module)
    elif mode == "run":
        sys.argv = [module, *args]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        raise SystemExit(f"unknown mode {mode!r}: import or run")
    assert "tensorflow" not in sys.modules, f"{module} loaded TensorFlow"


if __name__ == "__main__":
    main(*sys.argv[1:])
