"""Read a Transform output's analyzer results without TensorFlow.

components/transform.py publishes them as assets of the Transform output
(<transform_graph>/transform_fn/assets/, listed in transformed_metadata/asset_map):
- `analyzer_results.json`: per feature, the mean and variance of numeric features (float32
  values, exactly as the graph uses them), quantile bucket boundaries, and the number of
  indices each categorical feature can take (the one-hot widths both models use);
- one vocabulary file per vocabulary feature, one token per line, most frequent first.

Both trainers read the widths from here; the PyTorch side reads everything from here.
"""

import json
import os
from dataclasses import dataclass

from components import features as F

ASSET_KEY, ASSET_FILE = "analyzer_results", "analyzer_results.json"


@dataclass(frozen=True)
class AnalyzerResults:
    mean: dict[str, float]  # numeric feature -> mean of its (log1p'd) values
    var: dict[str, float]  # numeric feature -> variance
    boundaries: dict[str, list[float]]  # quantile feature -> ascending bucket boundaries
    size: dict[str, int]  # categorical feature -> how many indices it takes (one-hot width)
    vocabulary: dict[str, list[str]]  # vocabulary feature -> tokens, index order

    @classmethod
    def read(cls, transform_dir: str) -> "AnalyzerResults":
        """`transform_dir`: the TransformGraph artifact's folder."""
        with open(os.path.join(transform_dir, "transformed_metadata", "asset_map")) as f:
            assets = json.load(f)

        def asset(key):
            if key not in assets:
                raise FileNotFoundError(f"the Transform output in {transform_dir} has no asset {key!r}")
            return os.path.join(transform_dir, "transform_fn", "assets", assets[key])

        with open(asset(ASSET_KEY)) as f:
            results = json.load(f)
        vocabulary = {}
        for name in results.get("size", {}):
            if F.vocabulary_name(name) in assets:
                with open(asset(F.vocabulary_name(name)), "rb") as f:  # as tf.Transform reads it back
                    vocabulary[name] = [line.rstrip(b"\n").decode("utf-8") for line in f]
        return cls(mean=results.get("mean", {}), var=results.get("var", {}), boundaries=results.get("boundaries", {}),
                   size={k: int(v) for k, v in results.get("size", {}).items()}, vocabulary=vocabulary)
