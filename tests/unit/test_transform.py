"""preprocessing_fn through tf.Transform's Beam implementation, on rows with known outputs,
and the analyzer results it publishes (components/analyzer_results.py)."""

import functools
import math

import numpy as np
import pytest
import tensorflow_data_validation as tfdv
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from helpers import TAXI
from tensorflow_transform.tf_metadata import dataset_metadata

from components import features as F
from components.analyzer_results import AnalyzerResults
from components.transform import TF_COMPAT_V1, preprocessing_fn

pytestmark = pytest.mark.xdist_group("transform")  # shares a module-scoped fixture

E = math.e


def row(**values):
    """A raw row: every column missing ([]) unless given."""
    out = {name: [] for name in TAXI.raw_dtypes}
    out.update({k: [v] for k, v in values.items()})
    return out


ROWS = [
    row(trip_miles=0.0, trip_start_hour=0, payment_type=b"Cash", pickup_latitude=41.80, tips=0.0, fare=1.0),
    row(trip_miles=E - 1, trip_start_hour=23, payment_type=b"Cash", pickup_latitude=41.90, tips=1.0, fare=1.0),
    row(trip_miles=E * E - 1, trip_start_hour=24, payment_type=b"Credit Card", pickup_latitude=42.0,
        tips=0.2, fare=1.0),
    row(tips=0.0, fare=1.0),  # every model feature missing
]


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    metadata = dataset_metadata.DatasetMetadata(tfdv.load_schema_text(TAXI.schema_path))
    out_dir = str(tmp_path_factory.mktemp("tft"))
    fn = functools.partial(preprocessing_fn, custom_config={"dataset": "taxi"})
    with tft_beam.Context(temp_dir=out_dir, force_tf_compat_v1=TF_COMPAT_V1):
        (data, _), transform_fn = (ROWS, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
    return data, tft.TFTransformOutput(out_dir), out_dir


def column(data, name):
    return np.array([r[F.transformed_name(name)] for r in data])


def test_numeric_is_zscore_of_log1p_and_missing_is_the_mean(transformed):
    data, _, _ = transformed
    z = math.sqrt(1.5)  # values 0, 1, 2 (after log1p): mean 1, variance 2/3
    np.testing.assert_allclose(column(data, "trip_miles"), [-z, 0.0, z, 0.0], atol=1e-5)


def test_ordinal_is_offset_and_out_of_range_or_missing_share_a_bucket(transformed):
    data, _, _ = transformed
    assert column(data, "trip_start_hour").tolist() == [0, 23, 24, 24]


def test_vocabulary_by_frequency_and_missing_goes_out_of_vocabulary(transformed):
    data, output, _ = transformed
    vocab = output.vocabulary_by_name(F.vocabulary_name("payment_type"))
    assert vocab == [b"Cash", b"Credit Card"]  # the most frequent first; no empty token
    assert column(data, "payment_type").tolist() == [0, 0, 1, len(vocab)]


def test_rare_values_go_to_the_single_oov_bucket(transformed):
    data, output, _ = transformed  # company needs 5 sightings (min_count) to get an index
    size = output.vocabulary_size_by_name(F.vocabulary_name("company"))
    assert set(column(data, "company").tolist()) == {size}


def test_quantile_buckets_are_ordered_and_missing_has_its_own(transformed):
    data, _, out_dir = transformed
    buckets = column(data, "pickup_latitude").tolist()
    missing = len(AnalyzerResults.read(out_dir).boundaries["pickup_latitude"]) + 1
    assert buckets[3] == missing
    assert 0 <= buckets[0] <= buckets[1] <= buckets[2] < missing
    assert buckets[0] < buckets[2]


def test_label_is_tips_over_a_fifth_of_the_fare(transformed):
    data, _, _ = transformed
    assert [r[TAXI.label.name] for r in data] == [0, 1, 0, 0]


def test_the_transform_publishes_its_analyzer_results_once_as_an_asset(transformed):
    data, output, out_dir = transformed
    results = AnalyzerResults.read(out_dir)
    assert results.mean["trip_miles"] == pytest.approx(1.0, abs=1e-6)  # log1p of 0, e-1, e^2-1
    assert results.var["trip_miles"] == pytest.approx(2 / 3, abs=1e-6)
    assert results.vocabulary["payment_type"] == ["Cash", "Credit Card"]
    assert results.size["payment_type"] == 3  # two tokens and the out-of-vocabulary index
    assert results.size["trip_start_hour"] == 25  # 24 hours and the out-of-range index
    boundaries = results.boundaries["pickup_latitude"]
    assert boundaries == sorted(boundaries) and results.size["pickup_latitude"] == len(boundaries) + 2
    assert not any(k.startswith("analyzer") for row in data for k in row)  # not a per-row feature
    # what tf.Transform itself says of the vocabulary
    assert output.vocabulary_size_by_name(F.vocabulary_name("company")) + 1 == results.size["company"]
