"""The PyTorch trainer's `run_fn`: what TFX's Trainer (generic executor) calls.

The Trainer's process has TensorFlow loaded, and PyTorch's optimizer cannot run beside it
(see runtime/__init__.py). So this run_fn hands the whole job to the PyTorch runtime
(`python -m pipelines.torch_branch.runtime.train`), which reads the Transform's Parquet splits
itself, trains, and writes the TorchScript serving model (raw rows -> probability) into the
Trainer's serving model folder; TensorBoard logs and training.json go to the Trainer's
model_run folder, as Keras' do. Where the run started that process ahead (`tandem run`:
pipelines/child.Spare), its imports are done and it starts at once; elsewhere (a Kubeflow
or Vertex pod, a benchmark's cold start) it starts here.
"""

import json

from tfx.components.trainer.fn_args_utils import FnArgs

from pipelines.child import start
from pipelines.torch_branch.runtime import train_args

# runtime.TRAIN_MODULE, named in full: the code fingerprint follows it
RUNTIME_TRAIN = "pipelines.torch_branch.runtime.train"


def run_fn(fn_args: FnArgs):
    """TFX Trainer will call this function."""
    config = fn_args.custom_config
    config_json = json.dumps({**config["train"], "train_steps": fn_args.train_steps})
    with start(RUNTIME_TRAIN, *train_args(fn_args.train_files, fn_args.eval_files, fn_args.transform_output,
                                         config["dataset"], fn_args.serving_model_dir, fn_args.model_run_dir,
                                         config_json), what="PyTorch training") as training:
        training.finish()
