"""Train/serve parity: the PyTorch Preprocessor equals the tf.Transform graph on golden rows.

The Transform output comes from tf.Transform's Beam implementation on the checked-in taxi
sample. The expected values are the Transform graph's, fed as the served Keras model feeds
it (components.transform.sparse_from_rows); the PyTorch side runs in a process of its own
(torch_side.py: it never shares one with TensorFlow) from the published analyzer results
alone. Golden rows: real rows with missing values, plus unseen categories, out-of-range
and non-integer values, extremes, and every quantile bucket boundary and the float32
just below it.
"""

import functools
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from helpers import REPO, TAXI, read_rows
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io

from components import features as F
from components.analyzer_results import AnalyzerResults
from components.transform import TF_COMPAT_V1, preprocessing_fn, sparse_from_rows

pytestmark = pytest.mark.xdist_group("parity")  # shares a module-scoped fixture

TORCH_SIDE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_side.py")


def _training_value(name: str, text: str):
    """A CSV cell as Transform's training input takes it: [] when missing."""
    if text == "":
        return []
    dtype = TAXI.raw_dtypes[name]
    return [text.encode() if dtype == F.STRING else int(float(text)) if dtype == F.INT else float(text)]


def _served_value(name: str, text: str):
    """A CSV cell as a client sends it: a string ("" when missing), or a number (None when missing)."""
    return text if TAXI.is_string(name) else (float(text) if text else None)


@pytest.fixture(scope="module")
def transform_dir(tmp_path_factory) -> str:
    _, sample = read_rows(TAXI.sample_path)
    rows = [{name: _training_value(name, r[name]) for name in TAXI.raw_dtypes} for r in sample]
    metadata = dataset_metadata.DatasetMetadata(tfdv.load_schema_text(TAXI.schema_path))
    root = tmp_path_factory.mktemp("transform")
    out_dir = str(root / "output")
    fn = functools.partial(preprocessing_fn, custom_config={"dataset": TAXI.name})
    with tft_beam.Context(temp_dir=str(root / "tmp"), force_tf_compat_v1=TF_COMPAT_V1):
        transform_fn = (rows, metadata) | tft_beam.AnalyzeDataset(fn)
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
    metadata_io.write_metadata(metadata, os.path.join(out_dir, tft.TFTransformOutput.RAW_METADATA_DIR))
    return out_dir


@pytest.fixture(scope="module")
def golden_rows(transform_dir) -> list[dict]:
    _, sample = read_rows(TAXI.sample_path)
    real = [{name: _served_value(name, r[name]) for name in TAXI.serving_features} for r in sample[:60]]
    assert any(v in (None, "") for r in real for v in r.values())  # real rows with missing values
    base = real[0]
    odd = [
        {name: "" if TAXI.is_string(name) else None for name in TAXI.serving_features},  # everything missing
        {**base, "payment_type": "Bitcoin", "company": "A Brand New Cab Co",  # unseen categories
         "pickup_community_area": 78.0, "dropoff_community_area": 0.0, "dropoff_census_tract": 17031999999.0},
        {**base, "trip_start_hour": 24.0, "trip_start_day": 0.0, "trip_start_month": -3.0},  # out of range
        {**base, "fare": -5.0, "trip_miles": 1e9, "trip_seconds": 1e12, "pickup_latitude": -1e9,  # extremes
         "pickup_longitude": 1e30, "dropoff_latitude": -0.0, "dropoff_community_area": -3.0},
        {**base, "trip_seconds": 600.7, "pickup_community_area": 7.9, "trip_start_hour": 7.9},  # not integers
        {**base, "payment_type": "", "company": "Taxi Affiliation Services\n"},  # empty, and a newline
    ]
    for name, boundaries in AnalyzerResults.read(transform_dir).boundaries.items():
        for b in boundaries:  # each boundary, and the float32 just below it
            below = float(np.nextafter(np.float32(b), np.float32(-np.inf)))
            odd += [{**base, name: b}, {**base, name: below}]
    return real + odd


def transform_graph(output: tft.TFTransformOutput, rows: list[dict]) -> dict[str, np.ndarray]:
    """The Transform graph on served rows, fed as the Keras serving signature feeds it: one
    value per row (NaN, or "", when missing), through sparse_from_rows with the raw dtype."""
    raw_spec = output.raw_feature_spec()
    raw = {}
    for name in TAXI.serving_features:
        if TAXI.is_string(name):
            values = tf.constant([r[name] for r in rows], tf.string)
        else:
            values = tf.constant([np.nan if r[name] is None else r[name] for r in rows], tf.float64)
        raw[name] = sparse_from_rows(values, raw_spec[name].dtype)
    return {name: t.numpy() for name, t in output.transform_features_layer()(raw).items()}


@pytest.fixture(scope="module")
def expected(transform_dir, golden_rows) -> dict[str, np.ndarray]:
    return transform_graph(tft.TFTransformOutput(transform_dir), golden_rows)


@pytest.fixture(scope="module")
def actual(transform_dir, golden_rows, tmp_path_factory) -> dict[str, np.ndarray]:
    work = tmp_path_factory.mktemp("torch_side")
    rows = {"numbers": {n: [r[n] for r in golden_rows] for n in TAXI.serving_features if not TAXI.is_string(n)},
            "strings": {n: [r[n] for r in golden_rows] for n in TAXI.serving_features if TAXI.is_string(n)}}
    (work / "rows.json").write_text(json.dumps(rows))
    out = subprocess.run([sys.executable, TORCH_SIDE, TAXI.name, transform_dir, str(work / "rows.json"),
                          str(work / "out.npz")], cwd=REPO, env={**os.environ, "PYTHONPATH": REPO},
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    with np.load(work / "out.npz") as data:
        return {name: data[name] for name in data.files}


def _numeric(outputs: dict) -> list[str]:
    return sorted(name for name, values in outputs.items() if np.issubdtype(values.dtype, np.floating))


def test_the_golden_rows_reach_the_edge_buckets(transform_dir, expected):
    """Guards the test itself: every categorical feature's last index (out of vocabulary,
    out of range, missing) is among the expected values, and there are boundaries to feed."""
    results = AnalyzerResults.read(transform_dir)
    for f in TAXI.features:
        if not isinstance(f, F.Numeric):
            assert expected[F.transformed_name(f.name)].max() == results.size[f.name] - 1, f.name
    assert sum(len(b) for b in results.boundaries.values()) > 30


def test_both_sides_give_the_same_features(expected, actual):
    assert set(actual) == set(expected) == {F.transformed_name(f.name) for f in TAXI.features}
    assert _numeric(actual) == _numeric(expected) == sorted(F.transformed_name(f.name) for f in TAXI.numeric)


def test_z_scores_match_to_float32_rounding(expected, actual):
    # Not bit-exact, though both sides use the same float32 mean and variance (the asset
    # holds the graph's values exactly) and the same float32 steps: log1p comes from
    # different libraries (Eigen in TensorFlow, PyTorch's own CPU kernels), a few ulps
    # apart, and torch.sqrt of the variance can round the std one ulp off TensorFlow's.
    # On these rows: at most 2 ulps, 3.8e-6 at z = 23 (trip_miles = 1e9).
    for name in _numeric(expected):
        np.testing.assert_allclose(actual[name], expected[name], rtol=0, atol=1e-5, err_msg=name)


def test_indices_are_equal(expected, actual):
    for name in sorted(set(expected) - set(_numeric(expected))):
        assert actual[name].dtype == expected[name].dtype == np.int64, name
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)
