"""The PyTorch side of the parity test, run in a process of its own (never beside TensorFlow):

    python tests/parity/torch_side.py DATASET TRANSFORM_DIR ROWS_JSON OUT_NPZ

Builds the scripted Preprocessor, as the served model carries it, from the Transform
output's published analyzer results alone, applies it to the golden rows and writes its
outputs to OUT_NPZ. ROWS_JSON: {"numbers": {name: [number or null]}, "strings": {name: [str]}}
(null = a missing number, sent to the model as NaN).
"""

import json
import math
import sys

import numpy as np
import torch

from components import datasets
from components.analyzer_results import AnalyzerResults
from pipelines.torch_branch.runtime.preprocessing import Preprocessor, preprocessing_spec


def main(dataset: str, transform_dir: str, rows_path: str, out_path: str) -> None:
    spec = preprocessing_spec(datasets.load(dataset), AnalyzerResults.read(transform_dir))
    preprocessor = torch.jit.script(Preprocessor(spec))
    with open(rows_path) as f:
        rows = json.load(f)
    numbers = {name: torch.tensor([math.nan if v is None else v for v in values], dtype=torch.float64)
               for name, values in rows["numbers"].items()}
    out = preprocessor(numbers, rows["strings"])
    np.savez(out_path, **{name: values.numpy() for name, values in out.items()})


if __name__ == "__main__":
    main(*sys.argv[1:])
