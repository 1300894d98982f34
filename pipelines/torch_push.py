"""TorchServePusher: a blessed PyTorch model -> a versioned .mar in a TorchServe model store.

    <model_store>/big_tipper-<version>.mar     (version: seconds since the epoch, as TFX's Pusher)

The archive (torch-model-archiver) holds the TorchScript ServingModel (raw rows in,
probabilities out; the Transform parameters baked in), its params.json, and the thin
handler serving/torchserve/handler.py. Serve it with:

    torchserve --start --model-store <model_store> --models big_tipper=big_tipper-<version>.mar

Not blessed: nothing is written, and the PushedModel artifact says `pushed: 0`.
"""

import os
import subprocess
import tempfile
import time
from importlib import resources

from tfx import v1 as tfx
from tfx.types.standard_artifacts import Model, ModelBlessing, PushedModel

MODEL_NAME = "big_tipper"


def handler_path() -> str:
    return str(resources.files("serving") / "torchserve" / "handler.py")


def archive(model_dir: str, model_store: str, version: str) -> str:
    """torch-model-archiver into a temporary folder, then an atomic move into the store."""
    os.makedirs(model_store, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=model_store, prefix=".archiving-") as tmp:
        subprocess.run([
            "torch-model-archiver", "--model-name", MODEL_NAME, "--version", version,
            "--serialized-file", os.path.join(model_dir, "model.pt"),
            "--extra-files", os.path.join(model_dir, "params.json"),
            "--handler", handler_path(), "--export-path", tmp, "--force",
        ], check=True, capture_output=True, text=True)
        target = os.path.join(model_store, f"{MODEL_NAME}-{version}.mar")
        os.replace(os.path.join(tmp, f"{MODEL_NAME}.mar"), target)
    return target


@tfx.dsl.components.component
def TorchServePusher(
    model: tfx.dsl.components.InputArtifact[Model],
    model_blessing: tfx.dsl.components.InputArtifact[ModelBlessing],
    pushed_model: tfx.dsl.components.OutputArtifact[PushedModel],
    model_store: tfx.dsl.components.Parameter[str],
) -> None:
    """Archive and push the model if, and only if, it was blessed."""
    blessed = model_blessing.has_custom_property("blessed") and model_blessing.get_int_custom_property("blessed") == 1
    if not blessed:
        pushed_model.set_int_custom_property("pushed", 0)
        return
    version = str(int(time.time()))
    target = archive(os.path.join(model.uri, "Format-Serving"), model_store, version)
    pushed_model.set_int_custom_property("pushed", 1)
    pushed_model.set_string_custom_property("pushed_version", version)
    pushed_model.set_string_custom_property("pushed_destination", target)
