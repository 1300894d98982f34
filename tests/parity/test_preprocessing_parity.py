"""Train/serve parity: PyTorch's preprocessing equals the tf.Transform graph on golden rows.

The Transform output comes from tf.Transform's Beam implementation on the checked-in
sample; the PyTorch side runs in its own process (it never shares one with TensorFlow)
from the exported parameters alone. Golden rows hold real rows with missing values plus
unseen categories, out-of-range values, extremes and every bucket boundary.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_data_validation as tfdv
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io

from components import features as F
from components.transform import preprocessing_fn
from components.validate import curated_schema_path
from helpers import read_rows
from pipelines.transform_params import transform_columns, transform_params

TORCH_SIDE = """
import json, math, sys
import numpy as np, torch
from pipelines.torch_preprocessing import Preprocessor
params, rows = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
pre = torch.jit.script(Preprocessor(params))  # the scripted module, as served
numbers = {k: torch.tensor([math.nan if v is None else v for v in vs], dtype=torch.float64)
           for k, vs in rows["numbers"].items()}
out = pre(numbers, rows["strings"])
np.savez(sys.argv[3], **{k: v.numpy() for k, v in out.items()})
"""


def _raw_value(name, text):
    if text == "":
        return None
    return text if F.RAW_DTYPES[name] == F.STRING else float(text)


@pytest.fixture(scope="module")
def transform_output(tmp_path_factory):
    header, rows = read_rows()
    raw = [{n: [] if r[n] == "" else [_typed(n, r[n])] for n in header} for r in rows]
    metadata = dataset_metadata.DatasetMetadata(tfdv.load_schema_text(curated_schema_path()))
    out_dir = str(tmp_path_factory.mktemp("transform"))
    with tft_beam.Context(temp_dir=out_dir):
        transform_fn = (raw, metadata) | tft_beam.AnalyzeDataset(preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
    metadata_io.write_metadata(metadata, os.path.join(out_dir, tft.TFTransformOutput.RAW_METADATA_DIR))
    return tft.TFTransformOutput(out_dir)


def _typed(name, text):
    dtype = F.RAW_DTYPES[name]
    return text.encode() if dtype == F.STRING else (int(float(text)) if dtype == F.INT else float(text))


def golden_rows(params) -> list[dict]:
    _, sample = read_rows()
    rows = [{n: _raw_value(n, r[n]) for n in F.SERVING_FEATURES} for r in sample[:60]]
    base = dict(rows[0])
    odd = [
        {n: None for n in F.SERVING_FEATURES},  # everything missing
        {**base, "payment_type": "Bitcoin", "company": "A Brand New Cab Co", "dropoff_census_tract": 17031999999.0},
        {**base, "trip_start_hour": 24.0, "trip_start_day": 0.0, "trip_start_month": -3.0},
        {**base, "fare": -5.0, "trip_miles": 1e9, "trip_seconds": 600.7},
        {**base, "payment_type": "", "company": "cash\nline", "pickup_community_area": 7.9},
    ]
    for name, q in params["quantiles"].items():  # each boundary, and the float just below it
        for b in q["boundaries"]:
            below = float(np.nextafter(np.float32(b), np.float32(-np.inf)))
            odd += [{**base, name: b}, {**base, name: below}]
    return rows + odd


def test_pytorch_preprocessing_matches_the_transform_graph(transform_output, tmp_path):
    params = transform_params(transform_output)
    rows = golden_rows(params)
    assert sum(len(q["boundaries"]) for q in params["quantiles"].values()) >= 30

    expected = transform_columns(transform_output, {n: [r[n] for r in rows] for n in F.SERVING_FEATURES})

    (tmp_path / "params.json").write_text(json.dumps(params))
    (tmp_path / "rows.json").write_text(json.dumps({
        "numbers": {n: [r[n] for r in rows] for n in F.SERVING_FEATURES if F.RAW_DTYPES[n] != F.STRING},
        "strings": {n: [r[n] or "" for r in rows] for n in F.SERVING_FEATURES if F.RAW_DTYPES[n] == F.STRING},
    }))
    torch_side = subprocess.run([sys.executable, "-c", TORCH_SIDE, str(tmp_path / "params.json"),
                                 str(tmp_path / "rows.json"), str(tmp_path / "out.npz")], capture_output=True, text=True)
    assert torch_side.returncode == 0, torch_side.stderr
    actual = np.load(tmp_path / "out.npz")

    assert set(actual.files) == {F.transformed_name(f.name) for f in F.MODEL_FEATURES}
    for name in actual.files:
        if np.issubdtype(expected[name].dtype, np.floating):
            np.testing.assert_allclose(actual[name], expected[name], atol=1e-5, rtol=0, err_msg=name)
        else:
            np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)
