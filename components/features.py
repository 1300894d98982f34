"""The kinds of feature tandem knows, and how each is encoded: generic and import-light.

A dataset (components/datasets/<name>/) lists its raw columns as these kinds; everything
else — the curated schema's checks, `preprocessing_fn`, both models' inputs, the serving
contract — reads that list and retypes nothing. This module imports no framework, so
the serving side and the PyTorch runtime can use it too.
"""

from dataclasses import dataclass

# A raw column's type in the curated schema.
FLOAT, INT, STRING = "float", "int", "string"
# What a client sends for a raw column: JSON numbers or strings (serving/contract.py).
NUMBER = "number"


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: str  # FLOAT, INT or STRING: the raw column's type

    @property
    def kind(self) -> str:
        """How a client sends it: STRING for text, NUMBER for FLOAT and INT columns."""
        return STRING if self.dtype == STRING else NUMBER


@dataclass(frozen=True)
class Numeric(Feature):
    """Scaled to a z-score with the training split's mean and variance; a missing value
    becomes the mean (z = 0). `log` applies log1p first (for long-tailed, >= 0 values)."""

    log: bool = False


@dataclass(frozen=True)
class Ordinal(Feature):
    """A small integer with a known range [low, high]: index = value - low; a missing or
    out-of-range value goes to one extra out-of-range bucket (index high - low + 1)."""

    low: int = 0
    high: int = 0


@dataclass(frozen=True)
class Vocabulary(Feature):
    """Categorical by vocabulary computed on the training split (most frequent first).
    Values seen fewer than `min_count` times, values never seen, and a missing value (the
    empty string; tf.Transform keeps no empty token) share one out-of-vocabulary bucket,
    the last index. No hashing: any framework applies it from the vocabulary file alone
    (look the value up, else the OOV index)."""

    min_count: int = 1


@dataclass(frozen=True)
class Quantiles(Feature):
    """Bucketized by `buckets` quantiles of the training split (boundary b: values >= b go
    above it); a missing value gets its own bucket, after the value buckets."""

    buckets: int = 10


def transformed_name(name: str) -> str:
    """The key of a feature after Transform (kept distinct from the raw key)."""
    return f"{name}_xf"


def vocabulary_name(name: str) -> str:
    """The name of a feature's vocabulary file in the Transform output."""
    return f"{name}_vocab"
