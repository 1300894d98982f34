"""TorchServePusher: a blessed PyTorch model -> a versioned .mar in a TorchServe model store.

    <model_store>/<model name>-<version>.mar   (published atomically, pipelines/push.py)

The archive (torch-model-archiver) holds the TorchScript ServingModel (raw rows in,
probabilities out; the Transform's parameters baked in), the dataset's contract.json (the
raw features a request must name), and the thin handler serving/torchserve/handler.py with
the one module it needs, serving/contract.py: TorchServe needs no other tandem code. Serve
it with `tandem serve torch`, or:

    torchserve --start --model-store <model_store> --models <name>=<name>-<version>.mar

Not blessed (by the evaluator, or by the infra validator: TorchServe loaded the archive and
answered): nothing is written, and the PushedModel artifact says `pushed: 0`. The same
model as the newest archive (by content): nothing new is written either; the artifact
names that version.
"""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from importlib import resources

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import InfraBlessing, Model, ModelBlessing, PushedModel
from tfx.utils import path_utils

from components import datasets
from pipelines.push import content_digest, publish_mar
from pipelines.torch_branch.runtime import MODEL_FILE

HANDLER = "serving.torchserve.handler"  # module path: the handler and what it imports ship in the .mar
CONTRACT_MODULE = "serving.contract"


def _module_file(module: str) -> str:
    package, name = module.rsplit(".", 1)
    return str(resources.files(package) / f"{name}.py")


def contract_of(dataset) -> dict:
    """The archive's contract.json: the model's name and the raw features a request names."""
    return {"model": dataset.model_name, "features": dataset.contract()}


def archive(model_file: str, contract: dict, target: str, model_name: str, version: str) -> None:
    """torch-model-archiver: the model, its contract and the handler -> the .mar at `target`."""
    from serving.contract import CONTRACT_FILE

    with tempfile.TemporaryDirectory(dir=os.path.dirname(target), prefix=".archiving-") as tmp:
        extra = os.path.join(tmp, "extra")  # copied into the archive's root as it is
        os.makedirs(os.path.join(extra, "serving"))
        open(os.path.join(extra, "serving", "__init__.py"), "w").close()
        shutil.copyfile(_module_file(CONTRACT_MODULE), os.path.join(extra, "serving", "contract.py"))
        with open(os.path.join(extra, CONTRACT_FILE), "w") as f:
            json.dump(contract, f, indent=1)
        subprocess.run([
            "torch-model-archiver", "--model-name", model_name, "--version", version,
            "--serialized-file", model_file, "--extra-files", extra,
            "--handler", _module_file(HANDLER), "--export-path", tmp, "--force",
        ], check=True, capture_output=True, text=True)
        os.replace(os.path.join(tmp, f"{model_name}.mar"), target)


@component
def TorchServePusher(
    model: InputArtifact[Model],
    model_blessing: InputArtifact[ModelBlessing],
    infra_blessing: InputArtifact[InfraBlessing],
    pushed_model: OutputArtifact[PushedModel],
    model_store: Parameter[str],
    dataset: Parameter[str],
    code: Parameter[str],  # a fingerprint of this code, for TFX's cache key
) -> None:
    """Archive and publish the model if, and only if, it was blessed, and TorchServe served it."""
    del code
    blessed = all(b.has_custom_property("blessed") and b.get_int_custom_property("blessed") == 1
                  for b in (model_blessing, infra_blessing))
    if not blessed:
        pushed_model.set_int_custom_property("pushed", 0)
        return
    data = datasets.load(dataset)
    model_file = os.path.join(path_utils.serving_model_path(model.uri), MODEL_FILE)
    contract = contract_of(data)
    # What the archive holds: the same model, contract and serving code -> the same digest.
    digest = hashlib.sha256((content_digest(model_file, _module_file(HANDLER), _module_file(CONTRACT_MODULE))
                             + json.dumps(contract, sort_keys=True)).encode()).hexdigest()
    pushed = publish_mar(model_store, data.model_name, digest,
                         lambda path, version: archive(model_file, contract, path, data.model_name, version),
                         source=model.uri)
    pushed_model.set_int_custom_property("pushed", 1)
    pushed_model.set_int_custom_property("pushed_again", int(pushed.new))
    pushed_model.set_string_custom_property("pushed_version", str(pushed.version))
    pushed_model.set_string_custom_property("pushed_destination", pushed.path)
