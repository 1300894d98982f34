"""Where both trainers of the latest runs wrote their TensorBoard logs (`tandem tensorboard`).

Each TFX Trainer writes into its ModelRun artifact: Keras under keras/, PyTorch under torch/
(train/ and validation/ each, with the same tags), so TensorBoard shows them side by side."""

import os

from pipelines.branches import BRANCHES
from pipelines.home import metadata_path
from pipelines.metadata import Metadata, NoRunError

__all__ = ["NoRunError", "log_dirs"]


def log_dirs(home: str, dataset: str) -> dict[str, str]:
    """{branch key: its latest trainer's log folder}, for the branches that have trained."""
    path = metadata_path(home, dataset)
    if not os.path.exists(path):
        raise NoRunError(f"no metadata store at {path}: run `tandem run all` first")
    metadata, dirs = Metadata(path), {}
    for key, branch in BRANCHES.items():
        try:
            trainer = metadata.latest_finished(branch.trainer_id)
        except NoRunError:
            continue
        dirs[key] = os.path.join(trainer.output("model_run").uri, key)
    if not dirs:
        raise NoRunError(f"no trained model in {path}: run `tandem run all` first")
    return dirs
