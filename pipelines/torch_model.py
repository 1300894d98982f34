"""The PyTorch model: the same network as the Keras one, and its raw-feature serving form.

    BigTipperNet:   transformed features -> one-hot categoricals + z-scores -> MLP -> P
    ServingModel:   raw rows -> Preprocessor (torch_preprocessing.py) -> BigTipperNet

Both are TorchScript-able; ServingModel is what the .mar archive carries.
No TensorFlow here: this module runs in the PyTorch process.
"""

from typing import Dict, List

import torch

from pipelines.torch_preprocessing import Preprocessor


class BigTipperNet(torch.nn.Module):
    def __init__(self, numeric: List[str], categorical_sizes: Dict[str, int], hidden_units: List[int]):
        super().__init__()
        self.numeric = list(numeric)
        self.categorical = sorted(categorical_sizes)  # a fixed order for the concatenation
        self.sizes: Dict[str, int] = dict(categorical_sizes)
        width = len(self.numeric) + sum(categorical_sizes.values())
        layers: List[torch.nn.Module] = []
        for units in hidden_units:
            layers += [torch.nn.Linear(width, units), torch.nn.ReLU()]
            width = units
        layers.append(torch.nn.Linear(width, 1))
        self.mlp = torch.nn.Sequential(*layers)

    def encode(self, features: Dict[str, torch.Tensor]) -> torch.Tensor:
        parts = [torch.stack([features[name].to(torch.float32) for name in self.numeric], dim=1)]
        for name in self.categorical:
            parts.append(torch.nn.functional.one_hot(features[name], self.sizes[name]).to(torch.float32))
        return torch.cat(parts, dim=1)

    def forward(self, features: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits [batch]; the probability is their sigmoid."""
        return self.mlp(self.encode(features)).squeeze(-1)


class ServingModel(torch.nn.Module):
    """Raw rows in, probabilities out: what TorchServe runs."""

    def __init__(self, preprocessor: Preprocessor, net: BigTipperNet):
        super().__init__()
        self.preprocessor = preprocessor
        self.net = net

    def forward(self, numbers: Dict[str, torch.Tensor], strings: Dict[str, List[str]]) -> torch.Tensor:
        return torch.sigmoid(self.net(self.preprocessor(numbers, strings)))
