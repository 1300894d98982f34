"""What a pipeline's TensorFlow-side processes do not import: PyTorch.

`tfx.components` imports every TFX component, BulkInferrer's too. Its executor imports Beam's
RunInference, whose model manager imports PyTorch when it is installed: 1.7-1.9 s and some
300 MB in every process that runs TFX components (`tandem run`, its worker). Beam already
treats PyTorch as optional there (without it, its ModelManager is None: it serves only
RunInference's `use_model_manager`, which tandem never sets). tandem's own PyTorch code runs
in processes of its own (pipelines/torch_branch/runtime: training, the evaluator's scoring)
and in the model servers, never beside TFX.
"""

import importlib.abc
import sys


class _Refuse(importlib.abc.MetaPathFinder):
    """Answers an import of `package` or its modules with ModuleNotFoundError, as if it were
    not installed. (Not `sys.modules[package] = None`: libraries such as SciPy look modules up
    there and expect a module or nothing.)"""

    def __init__(self, package: str):
        self.package = package

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] == self.package:
            raise ModuleNotFoundError(f"No module named {fullname!r} (not imported beside TFX: pipelines/imports.py)",
                                      name=fullname)
        return None


def without_pytorch() -> None:
    """From now on, `import torch` fails in this process. Call it before TFX is imported."""
    if "torch" in sys.modules:
        return  # too late to save anything, and whoever imported it uses it
    if not any(isinstance(finder, _Refuse) and finder.package == "torch" for finder in sys.meta_path):
        sys.meta_path.insert(0, _Refuse("torch"))
