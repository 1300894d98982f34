"""What tandem needs to know about a dataset: one frozen record, filled in by the dataset's
own package (components/datasets/<name>/). Import-light: no framework is imported here.

Everything dataset-specific lives in that package — the raw features and their
encodings, the label, the slices, the curated schema (`schema.pbtxt`), the bundled data —
and nothing outside it names a column. To bring your own data, add a package there
(the README's "Bring your own dataset" says how).
"""

import os
from dataclasses import dataclass, field
from importlib import import_module, resources

from components.features import STRING, Feature, Numeric, Ordinal, Quantiles, Vocabulary


@dataclass(frozen=True)
class Label:
    """A binary label derived from raw columns by `fn` (a module path), inside Transform."""

    name: str  # its key after Transform, e.g. "big_tipper"
    inputs: tuple[Feature, ...]  # raw columns read only to derive it: never sent to a served model
    fn: str  # "package.module.function": {raw column: dense tensor} -> int64 tensor of 0/1
    reads: tuple[str, ...]  # every raw column `fn` reads (label inputs, and features it also uses)


@dataclass(frozen=True)
class Dataset:
    name: str  # what `--dataset` takes
    title: str  # one line: the data and the task
    model_name: str  # the served model's name (TF Serving model name, TorchServe .mar name)
    package: str  # the dataset's package: schema.pbtxt (and sample.csv) live there
    features: tuple[Feature, ...]  # what the model reads, in this order; what a client sends
    label: Label
    unused: tuple[Feature, ...] = ()  # in the data and validated by the schema, not used by the model
    slices: tuple[str, ...] = ()  # raw features the evaluation reports metrics by
    bundled: str = ""  # "package.module.function": folder -> path of the full bundled CSV
    jitter: dict[str, float] = field(default_factory=dict)  # columns `tandem data generate` jitters

    # ---------------------------------------------------------------- the features by kind
    def of_kind(self, kind: type) -> tuple:
        return tuple(f for f in self.features if type(f) is kind)

    @property
    def numeric(self) -> tuple[Numeric, ...]:
        return self.of_kind(Numeric)

    @property
    def ordinal(self) -> tuple[Ordinal, ...]:
        return self.of_kind(Ordinal)

    @property
    def vocabulary(self) -> tuple[Vocabulary, ...]:
        return self.of_kind(Vocabulary)

    @property
    def quantiles(self) -> tuple[Quantiles, ...]:
        return self.of_kind(Quantiles)

    @property
    def raw_columns(self) -> tuple[Feature, ...]:
        """Every column of the data: model features, unused columns, label inputs."""
        return self.features + self.unused + self.label.inputs

    @property
    def raw_dtypes(self) -> dict[str, str]:
        return {f.name: f.dtype for f in self.raw_columns}

    @property
    def serving_features(self) -> tuple[str, ...]:
        """What a client sends to a served model: every model feature, no label input."""
        return tuple(f.name for f in self.features)

    def contract(self) -> dict[str, str]:
        """The served models' raw inputs: name -> "number" or "string" (serving/contract.py)."""
        return {f.name: f.kind for f in self.features}

    def is_string(self, name: str) -> bool:
        return self.raw_dtypes[name] == STRING

    # ---------------------------------------------------------------- files
    @property
    def schema_path(self) -> str:
        """The curated schema, checked in beside the dataset's definition."""
        return str(resources.files(self.package) / "schema.pbtxt")

    @property
    def sample_path(self) -> str | None:
        """A small checked-in sample for tests, if the package has one."""
        path = str(resources.files(self.package) / "sample.csv")
        return path if os.path.exists(path) else None

    def bundled_csv(self, folder: str) -> str:
        """The full bundled data set (may be prepared into `folder` on first use)."""
        return call(self.bundled, folder)


def call(path: str, *args):
    """Call a function named by module path, e.g. a dataset's label function."""
    module, function = path.rsplit(".", 1)
    return getattr(import_module(module), function)(*args)
