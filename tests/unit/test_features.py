"""The feature spec is the one source of truth: check it against the curated schema."""

import tensorflow_data_validation as tfdv

from components import features as F
from components.validate import curated_schema_path

SCHEMA_TYPES = {F.FLOAT: 3, F.INT: 2, F.STRING: 1}  # schema_pb2.FeatureType values


def test_names_are_unique_and_label_inputs_are_not_served():
    assert len(set(F.RAW_COLUMNS)) == len(F.RAW_COLUMNS)
    assert F.TIPS.name not in F.SERVING_FEATURES
    assert F.FARE in F.SERVING_FEATURES
    assert F.LABEL not in F.RAW_COLUMNS


def test_every_raw_column_is_in_the_curated_schema_with_its_type():
    schema = tfdv.load_schema_text(curated_schema_path())
    types = {f.name: f.type for f in schema.feature}
    assert set(types) == set(F.RAW_COLUMNS)
    for name, dtype in F.RAW_DTYPES.items():
        assert types[name] == SCHEMA_TYPES[dtype], name


def test_label_inputs_and_key_features_are_required():
    schema = tfdv.load_schema_text(curated_schema_path())
    required = {f.name for f in schema.feature if f.presence.min_fraction == 1.0}
    assert {F.TIPS.name, F.FARE, "payment_type", "trip_start_hour"} <= required


def test_ordinal_sizes_hold_every_value_and_one_out_of_range_bucket():
    hour = next(f for f in F.ORDINAL if f.name == "trip_start_hour")
    assert hour.size == 24 + 1
    assert all(f.size == f.buckets + 1 for f in F.QUANTILES)
