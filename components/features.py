"""The one source of truth for tandem's features: raw columns, how each is encoded, the label.

Everything else — the curated schema's checks, `preprocessing_fn`, the Keras model's
inputs, the serving signature, the PyTorch side — reads these definitions; none retypes them.

The data is the Chicago Taxi trips sample (see data/PROVENANCE.md). The task is the
classic "big tipper": did the rider tip more than 20 % of the fare?
"""

from dataclasses import dataclass

# Raw columns as they appear in the CSV, with their type in the curated schema.
FLOAT, INT, STRING = "float", "int", "string"


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: str  # FLOAT, INT or STRING: the raw column's type


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

    @property
    def size(self) -> int:
        return self.high - self.low + 2


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
    """Bucketized by `buckets` quantiles of the training split; a missing value gets its
    own bucket (index `buckets`)."""

    buckets: int = 10

    @property
    def size(self) -> int:
        return self.buckets + 1


NUMERIC = (
    Numeric("trip_miles", FLOAT, log=True),
    Numeric("fare", FLOAT, log=True),
    Numeric("trip_seconds", INT, log=True),
)
ORDINAL = (
    Ordinal("trip_start_hour", INT, low=0, high=23),
    Ordinal("trip_start_day", INT, low=1, high=7),
    Ordinal("trip_start_month", INT, low=1, high=12),
)
VOCABULARY = (
    Vocabulary("payment_type", STRING),
    Vocabulary("company", STRING, min_count=5),
    Vocabulary("pickup_community_area", INT),
    Vocabulary("dropoff_community_area", INT),
    Vocabulary("dropoff_census_tract", INT, min_count=5),
)
QUANTILES = (
    Quantiles("pickup_latitude", FLOAT),
    Quantiles("pickup_longitude", FLOAT),
    Quantiles("dropoff_latitude", FLOAT),
    Quantiles("dropoff_longitude", FLOAT),
)
MODEL_FEATURES = NUMERIC + ORDINAL + VOCABULARY + QUANTILES

# Columns in the data that the model does not use: still validated by the schema.
UNUSED = (
    Feature("trip_start_timestamp", INT),
    Feature("pickup_census_tract", INT),  # missing in all but one row of the sample
)

# The label is derived, not read: big tipper <=> tips > TIP_FRACTION * fare.
TIPS = Feature("tips", FLOAT)
FARE = "fare"
TIP_FRACTION = 0.2
LABEL = "big_tipper"

RAW_COLUMNS = tuple(f.name for f in MODEL_FEATURES + UNUSED + (TIPS,))
# What a client sends to a served model: every model feature, never the tips.
SERVING_FEATURES = tuple(f.name for f in MODEL_FEATURES)
RAW_DTYPES = {f.name: f.dtype for f in MODEL_FEATURES + UNUSED + (TIPS,)}


def transformed_name(name: str) -> str:
    """The key of a feature after Transform (kept distinct from the raw key)."""
    return f"{name}_xf"


def vocabulary_name(name: str) -> str:
    """The name of a feature's vocabulary file in the Transform output."""
    return f"{name}_vocab"
