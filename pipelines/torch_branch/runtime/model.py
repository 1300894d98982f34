"""The PyTorch model: the same network as the Keras one, and its raw-feature serving form.

    Net:           transformed features, in the dataset's order: z-scores as they are,
                   categorical indices one-hot -> MLP -> one logit
    ServingModel:  raw rows -> Preprocessor (preprocessing.py) -> Net -> probability

Both are TorchScript-able; ServingModel is what the .mar archive carries. Weights start
as Keras' Dense layers do (Glorot-uniform, zero bias), from this run's seed.
"""


import torch

from pipelines.torch_branch.runtime.preprocessing import Preprocessor


class Net(torch.nn.Module):
    def __init__(self, layout: list[tuple[str, int]], hidden_units: list[int]):
        """`layout`: (transformed feature, one-hot width; 0 for a numeric z-score), in order."""
        super().__init__()
        self.layout = list(layout)
        width = sum(max(1, size) for _, size in self.layout)
        self.input_width = width  # columns of the encoded input (one-hot widths, and 1 per z-score)
        layers: list[torch.nn.Module] = []
        for units in list(hidden_units) + [1]:
            linear = torch.nn.Linear(width, units)
            torch.nn.init.xavier_uniform_(linear.weight)
            torch.nn.init.zeros_(linear.bias)
            layers += [linear, torch.nn.ReLU()]
            width = units
        self.mlp = torch.nn.Sequential(*layers[:-1])  # no activation after the logit

    def encode(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        parts: list[torch.Tensor] = []
        for name, size in self.layout:
            if size == 0:
                parts.append(features[name].to(torch.float32).unsqueeze(1))
            else:
                # one_hot() itself checks the indices' range on the host: on a GPU that is a
                # sync per feature per step, which left the GPU idle most of each step.
                # The comparison is the same matrix without it (the data's range is checked
                # once, when training loads it).
                parts.append((features[name].unsqueeze(1) == torch.arange(size, device=features[name].device))
                             .to(torch.float32))
        return torch.cat(parts, dim=1)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits [batch]; the probability is their sigmoid."""
        return self.mlp(self.encode(features)).squeeze(-1)


class ServingModel(torch.nn.Module):
    """Raw rows in, probabilities out: what TorchServe runs."""

    def __init__(self, preprocessor: Preprocessor, net: Net, inputs: dict[str, str]):
        super().__init__()
        self.preprocessor = preprocessor
        self.net = net
        self.inputs: dict[str, str] = dict(inputs)

    @torch.jit.export
    def input_kinds(self) -> dict[str, str]:
        """The raw features this model reads: name -> "number" or "string"."""
        return self.inputs

    def forward(self, numbers: dict[str, torch.Tensor], strings: dict[str, list[str]]) -> torch.Tensor:
        return torch.sigmoid(self.net(self.preprocessor(numbers, strings)))
