"""tandem's preprocessing in PyTorch: the same steps as components/transform.py.

Built from the analyzer results that pipelines/transform_params.py exports (JSON), it
needs no TensorFlow, and it is TorchScript-able, so the served model takes raw rows.

Input, one entry per raw serving feature (as the TF model's serving_default takes it):
- numbers: float64 tensors [batch], NaN = missing
- strings: lists of str [batch], "" = missing
Output: transformed feature tensors [batch] (float32 z-scores, int64 indices), keyed
like Transform's outputs, in the order the model concatenates them.
"""

from typing import Dict, List

import torch


def _as_raw(x: torch.Tensor, is_int: bool) -> torch.Tensor:
    """What TF's serving signature does first: cast to the raw column's type."""
    if is_int:
        return x.to(torch.int64).to(torch.float32)
    return x.to(torch.float32)


class Preprocessor(torch.nn.Module):
    def __init__(self, params: dict):
        super().__init__()
        self.order: List[str] = list(params["feature_order"])
        self.numeric_mean: Dict[str, float] = {k: float(v["mean"]) for k, v in params["numeric"].items()}
        self.numeric_std: Dict[str, float] = {k: float(v["std"]) for k, v in params["numeric"].items()}
        self.numeric_log: Dict[str, bool] = {k: bool(v["log"]) for k, v in params["numeric"].items()}
        self.numeric_is_int: Dict[str, bool] = {k: v["dtype"] == "int" for k, v in params["numeric"].items()}
        self.ordinal_low: Dict[str, int] = {k: int(v["low"]) for k, v in params["ordinal"].items()}
        self.ordinal_high: Dict[str, int] = {k: int(v["high"]) for k, v in params["ordinal"].items()}
        self.vocab: Dict[str, Dict[str, int]] = {
            k: {token: i for i, token in enumerate(v["tokens"])} for k, v in params["vocabulary"].items()}
        self.vocab_is_int: Dict[str, bool] = {k: v["dtype"] == "int" for k, v in params["vocabulary"].items()}
        self.boundaries: Dict[str, torch.Tensor] = {
            k: torch.tensor(v["boundaries"], dtype=torch.float32) for k, v in params["quantiles"].items()}
        self.missing_bucket: Dict[str, int] = {k: int(v["missing"]) for k, v in params["quantiles"].items()}

    @torch.jit.export
    def sizes(self) -> Dict[str, int]:
        """How many indices each categorical output can take (the one-hot widths)."""
        out: Dict[str, int] = {}
        for name, low in self.ordinal_low.items():
            out[name + "_xf"] = self.ordinal_high[name] - low + 2
        for name, vocab in self.vocab.items():
            out[name + "_xf"] = len(vocab) + 1
        for name, missing in self.missing_bucket.items():
            out[name + "_xf"] = missing + 1
        return out

    def _vocab_keys(self, name: str, numbers: Dict[str, torch.Tensor], strings: Dict[str, List[str]]) -> List[str]:
        if not self.vocab_is_int[name]:
            return strings[name]
        keys: List[str] = []
        values: List[float] = numbers[name].tolist()
        for value in values:  # ints as decimal text, as tf.strings.as_string
            keys.append("" if value != value else str(int(value)))
        return keys

    def forward(self, numbers: Dict[str, torch.Tensor], strings: Dict[str, List[str]]) -> Dict[str, torch.Tensor]:
        out: Dict[str, torch.Tensor] = {}
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
            out[name + "_xf"] = torch.tensor(ids, dtype=torch.int64)
        for name, boundaries in self.boundaries.items():
            x = numbers[name]
            present = ~torch.isnan(x)
            v = torch.where(present, x, torch.zeros_like(x)).to(torch.float32)
            buckets = torch.bucketize(v, boundaries, right=True)  # count of boundaries <= v
            out[name + "_xf"] = torch.where(present, buckets, torch.full_like(buckets, self.missing_bucket[name]))
        return out
