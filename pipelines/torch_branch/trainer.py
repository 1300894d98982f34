"""The PyTorch trainer's `run_fn`: what TFX's Trainer (generic executor) calls.

The Trainer's process has TensorFlow loaded, and PyTorch's optimizer cannot run beside it
(see runtime/__init__.py). So this run_fn only reads the data, then hands over:
1. `python -m pipelines.torch_branch.runtime.train` starts first: its imports and network
   (seconds) overlap the reading below; it waits for the data (--wait-for-data);
2. the transformed train/eval splits (the Transform's Parquet), in the canonical row order
   both trainers use (pipelines/training.py) -> train.npz / eval.npz, then DATA_WRITTEN on its stdin;
3. it trains from them and from the Transform output's analyzer results, and writes the
   TorchScript serving model (raw rows -> probability) into the Trainer's serving model folder.
TensorBoard logs and training.json go to the Trainer's model_run folder, as Keras' do.
"""

import json
import os

import numpy as np
from tfx.components.trainer.fn_args_utils import FnArgs

from pipelines.child import Child
from pipelines.torch_branch.runtime import DATA_WRITTEN, train_args
from pipelines.transformed_data import load_split

RUNTIME_TRAIN = "pipelines.torch_branch.runtime.train"  # named in full: the code fingerprint follows it


def run_fn(fn_args: FnArgs):
    """TFX Trainer will call this function."""
    config = fn_args.custom_config
    data_dir = os.path.join(fn_args.model_run_dir, "torch_data")
    config_json = json.dumps({**config["train"], "train_steps": fn_args.train_steps})
    with Child(RUNTIME_TRAIN, *train_args(data_dir, fn_args.transform_output, config["dataset"],
                                          fn_args.serving_model_dir, fn_args.model_run_dir, config_json,
                                          wait_for_data=True), what="PyTorch training") as training:
        os.makedirs(data_dir, exist_ok=True)  # np.savez and the child's np.load: a local folder
        for split, files in (("train", fn_args.train_files), ("eval", fn_args.eval_files)):
            columns = load_split(files)
            np.savez(os.path.join(data_dir, f"{split}.npz"), **columns)
        training.finish(DATA_WRITTEN)
