"""A dataset's feature list is the one source of truth: check it against its curated schema."""

import pytest
import tensorflow_data_validation as tfdv

from components import datasets
from components import features as F

SCHEMA_TYPES = {F.FLOAT: 3, F.INT: 2, F.STRING: 1}  # schema_pb2.FeatureType values


@pytest.fixture(params=datasets.names())
def dataset(request):
    return datasets.load(request.param)


def test_names_are_unique_and_label_inputs_are_not_served(dataset):
    names = [f.name for f in dataset.raw_columns]
    assert len(set(names)) == len(names)
    assert not {f.name for f in dataset.label.inputs} & set(dataset.serving_features)
    assert dataset.label.name not in names
    assert set(dataset.label.reads) <= set(names)
    assert set(dataset.slices) <= set(dataset.serving_features)


def test_every_raw_column_is_in_the_curated_schema_with_its_type(dataset):
    schema = tfdv.load_schema_text(dataset.schema_path)
    types = {f.name: f.type for f in schema.feature}
    assert set(types) == set(dataset.raw_dtypes)
    for name, dtype in dataset.raw_dtypes.items():
        assert types[name] == SCHEMA_TYPES[dtype], name


def test_label_inputs_are_required(dataset):
    schema = tfdv.load_schema_text(dataset.schema_path)
    required = {f.name for f in schema.feature if f.presence.min_fraction == 1.0}
    assert set(dataset.label.reads) <= required


def test_the_contract_names_every_served_feature_with_its_kind():
    taxi = datasets.load("taxi")
    contract = taxi.contract()
    assert list(contract) == list(taxi.serving_features)
    assert contract["payment_type"] == "string" and contract["fare"] == "number"
    assert contract["trip_start_hour"] == "number"  # an INT column is a JSON number


def test_an_unknown_dataset_is_named_in_the_error():
    with pytest.raises(KeyError, match="unknown dataset 'nope'"):
        datasets.load("nope")
