"""tandem's preprocessing in PyTorch: the same steps as components/transform.py.

Built from the analyzer results the Transform publishes (components/analyzer_results.py)
and the dataset's feature list, it needs no TensorFlow, and it is TorchScript-able, so the
served model takes raw rows.

Input, one entry per raw serving feature (as the TF model's serving_default takes it):
- numbers: float64 tensors [batch], NaN = missing
- strings: lists of str [batch], "" = missing
Output: transformed feature tensors [batch] (float32 z-scores, int64 indices), keyed like
the Transform's outputs.
"""

import math

import numpy as np
import torch

from components import features as F
from components.analyzer_results import AnalyzerResults
from components.dataset import Dataset


def preprocessing_spec(dataset: Dataset, results: AnalyzerResults) -> dict:
    """Everything the Preprocessor applies, as plain JSON-able values."""
    return {
        "numeric": {f.name: {"mean": results.mean[f.name], "var": results.var[f.name], "log": f.log,
                             "is_int": f.dtype == F.INT} for f in dataset.numeric},
        "ordinal": {f.name: {"low": f.low, "high": f.high} for f in dataset.ordinal},
        "vocabulary": {f.name: {"tokens": results.vocabulary[f.name], "is_int": f.dtype == F.INT}
                       for f in dataset.vocabulary},
        "quantiles": {f.name: {"boundaries": results.boundaries[f.name]} for f in dataset.quantiles},
    }


def _as_raw(x: torch.Tensor, is_int: bool) -> torch.Tensor:
    """What TF's serving signature does first: cast to the raw column's type."""
    if is_int:
        return x.to(torch.int64).to(torch.float32)
    return x.to(torch.float32)


class Preprocessor(torch.nn.Module):
    # Class-level types: TorchScript cannot infer the type of an empty dict (a dataset
    # without ordinal or quantile features) from its value.
    numeric_mean: dict[str, float]
    numeric_std: dict[str, float]
    numeric_log: dict[str, bool]
    numeric_is_int: dict[str, bool]
    ordinal_low: dict[str, int]
    ordinal_high: dict[str, int]
    vocab: dict[str, dict[str, int]]
    vocab_is_int: dict[str, bool]
    boundaries: dict[str, torch.Tensor]

    def __init__(self, spec: dict):
        super().__init__()
        numeric = spec["numeric"]
        self.numeric_mean: dict[str, float] = {k: float(v["mean"]) for k, v in numeric.items()}
        # the correctly rounded float32 sqrt, as the Transform graph's (torch.sqrt on a float32
        # may be an ulp off); a constant feature is only centred
        self.numeric_std: dict[str, float] = {
            k: float(np.float32(math.sqrt(v["var"]))) or 1.0 for k, v in numeric.items()}
        self.numeric_log: dict[str, bool] = {k: bool(v["log"]) for k, v in numeric.items()}
        self.numeric_is_int: dict[str, bool] = {k: bool(v["is_int"]) for k, v in numeric.items()}
        self.ordinal_low: dict[str, int] = {k: int(v["low"]) for k, v in spec["ordinal"].items()}
        self.ordinal_high: dict[str, int] = {k: int(v["high"]) for k, v in spec["ordinal"].items()}
        self.vocab: dict[str, dict[str, int]] = {
            k: {token: i for i, token in enumerate(v["tokens"])} for k, v in spec["vocabulary"].items()}
        self.vocab_is_int: dict[str, bool] = {k: bool(v["is_int"]) for k, v in spec["vocabulary"].items()}
        self.boundaries: dict[str, torch.Tensor] = {
            k: torch.tensor(v["boundaries"], dtype=torch.float32) for k, v in spec["quantiles"].items()}
        for name, mean in self.numeric_mean.items():
            assert math.isfinite(mean), f"the Transform's mean of {name} is not finite"

    def _vocab_keys(self, name: str, numbers: dict[str, torch.Tensor], strings: dict[str, list[str]]) -> list[str]:
        if not self.vocab_is_int[name]:
            return strings[name]
        keys: list[str] = []
        values: list[float] = numbers[name].tolist()
        for value in values:  # ints as decimal text, as tf.strings.as_string
            keys.append("" if value != value else str(int(value)))
        return keys

    def forward(self, numbers: dict[str, torch.Tensor], strings: dict[str, list[str]]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        device = torch.device("cpu")  # where the inputs are: the outputs go there too
        for x in numbers.values():
            device = x.device
            break
        for name, mean in self.numeric_mean.items():
            x = numbers[name]
            present = ~torch.isnan(x)
            v = _as_raw(torch.where(present, x, torch.zeros_like(x)), self.numeric_is_int[name])
            if self.numeric_log[name]:
                v = torch.log1p(torch.clamp(v, min=0.0))
            z = (v - mean) / self.numeric_std[name]
            out[name + "_xf"] = torch.where(present, z, torch.zeros_like(z))
        for name, low in self.ordinal_low.items():
            x = numbers[name]
            present = ~torch.isnan(x)
            index = torch.where(present, x, torch.zeros_like(x)).to(torch.int64) - low
            oov = self.ordinal_high[name] - low + 1
            valid = present & (index >= 0) & (index < oov)
            out[name + "_xf"] = torch.where(valid, index, torch.full_like(index, oov))
        for name, vocab in self.vocab.items():
            oov = len(vocab)
            ids = [vocab.get(key, oov) for key in self._vocab_keys(name, numbers, strings)]
            out[name + "_xf"] = torch.tensor(ids, dtype=torch.int64, device=device)
        for name, boundaries in self.boundaries.items():
            x = numbers[name]
            present = ~torch.isnan(x)
            v = torch.where(present, x, torch.zeros_like(x)).to(torch.float32)
            buckets = torch.bucketize(v, boundaries.to(v.device), right=True)  # count of boundaries <= v
            missing = torch.full_like(buckets, boundaries.numel() + 1)
            out[name + "_xf"] = torch.where(present, buckets, missing)
        return out
