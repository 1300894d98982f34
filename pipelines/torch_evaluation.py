"""TorchEvaluator: TFMA's blessing for a model TFMA cannot load.

TFX's Evaluator runs TensorFlow models only. This component keeps TFMA and the blessing
contract and swaps how predictions are made:
1. the raw eval split (the same rows the Keras Evaluator reads) -> raw columns, and the
   label through the Transform graph;
2. a PyTorch process scores the rows with the candidate's and the baseline's served
   TorchScript models (raw rows in, exactly as TorchServe will run them);
3. TFMA evaluates the materialized predictions with the *same* metrics, slices and
   thresholds as the Keras branch (pipelines/evaluation.py), and the result becomes a
   standard ModelEvaluation and ModelBlessing, which gate the push.
"""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx.types.standard_artifacts import Examples, Model, ModelBlessing, ModelEvaluation, TransformGraph

from components import features as F
from pipelines import evaluation
from pipelines.config import EvalConfig

PREDICTION, BASELINE_PREDICTION = "prediction", "baseline_prediction"


def _dense(sparse: tf.SparseTensor, missing):
    """[batch, <=1] SparseTensor -> numpy [batch] with `missing` where absent."""
    values = np.full(int(sparse.dense_shape[0]), missing, dtype=object if isinstance(missing, str) else np.float64)
    rows = sparse.indices.numpy()[:, 0]
    got = sparse.values.numpy()
    values[rows] = [v.decode("utf-8") for v in got] if isinstance(missing, str) else got
    return values


def read_eval_rows(examples: Examples, tf_transform_output) -> tuple[dict, np.ndarray]:
    """The eval split's raw serving features (NaN / "" = missing) and labels."""
    files = glob.glob(os.path.join(examples.uri, "Split-eval", "*"))
    raw_spec = tf_transform_output.raw_feature_spec()
    columns: dict[str, list] = {name: [] for name in F.SERVING_FEATURES}
    labels = []
    for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(4096):
        parsed = tf.io.parse_example(batch, raw_spec)
        labels.append(tf_transform_output.transform_raw_features(parsed, drop_unused_features=True)[F.LABEL].numpy())
        for name in F.SERVING_FEATURES:
            columns[name].append(_dense(parsed[name], "" if F.RAW_DTYPES[name] == F.STRING else np.nan))
    arrays = {name: np.concatenate(parts) for name, parts in columns.items()}
    for name in F.SERVING_FEATURES:
        if F.RAW_DTYPES[name] == F.STRING:
            arrays[name] = arrays[name].astype(str)
    return arrays, np.concatenate(labels)


def _predict(rows_path: str, out_path: str, models: dict[str, str]) -> dict[str, np.ndarray]:
    command = [sys.executable, "-m", "pipelines.torch_predict", "--rows", rows_path, "--out", out_path]
    command += [f"{name}={path}" for name, path in models.items()]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"PyTorch prediction failed: {result.stderr.strip()[-2000:]}")
    with np.load(out_path) as predictions:
        return {name: predictions[name] for name in predictions.files}


def _write_examples(path: str, rows: dict, labels: np.ndarray, predictions: dict, slices) -> None:
    def feature(value):
        if isinstance(value, str):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()] if value else []))
        if isinstance(value, (int, np.integer)):
            return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
        return tf.train.Feature(float_list=tf.train.FloatList(value=[] if np.isnan(value) else [float(value)]))

    with tf.io.TFRecordWriter(path) as writer:
        for i in range(len(labels)):
            values = {F.LABEL: int(labels[i]), **{k: float(v[i]) for k, v in predictions.items()}}
            for key in slices:  # slice keys as the raw data has them
                raw = rows[key][i]
                values[key] = raw if F.RAW_DTYPES[key] == F.STRING else (
                    int(raw) if F.RAW_DTYPES[key] == F.INT and not np.isnan(raw) else float(raw))
            example = tf.train.Example(features=tf.train.Features(feature={k: feature(v) for k, v in values.items()}))
            writer.write(example.SerializeToString())


@tfx.dsl.components.component
def TorchEvaluator(
    examples: tfx.dsl.components.InputArtifact[Examples],
    transform_graph: tfx.dsl.components.InputArtifact[TransformGraph],
    model: tfx.dsl.components.InputArtifact[Model],
    evaluation_result: tfx.dsl.components.OutputArtifact[ModelEvaluation],
    blessing: tfx.dsl.components.OutputArtifact[ModelBlessing],
    thresholds: tfx.dsl.components.Parameter[str],
    baseline_model: tfx.dsl.components.InputArtifact[Model] = None,  # None: no model blessed yet
) -> None:
    """Evaluate the PyTorch candidate (and baseline) with TFMA; bless or not."""
    cfg = EvalConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(thresholds).items()})
    tf_transform_output = tft.TFTransformOutput(transform_graph.uri)
    rows, labels = read_eval_rows(examples, tf_transform_output)
    work = os.path.join(evaluation_result.uri, "predictions")
    tf.io.gfile.makedirs(work)
    np.savez(os.path.join(work, "rows.npz"), **rows)
    np.save(os.path.join(work, "labels.npy"), labels)  # for `tandem compare`

    models = {PREDICTION: os.path.join(model.uri, "Format-Serving", "model.pt")}
    if baseline_model is not None:
        models[BASELINE_PREDICTION] = os.path.join(baseline_model.uri, "Format-Serving", "model.pt")
    predictions = _predict(os.path.join(work, "rows.npz"), os.path.join(work, "predictions.npz"), models)
    data = os.path.join(work, "eval_predictions.tfrecord")
    _write_examples(data, rows, labels, predictions, cfg.slices)

    config = evaluation.materialized_eval_config(cfg, PREDICTION, BASELINE_PREDICTION if baseline_model else None)
    shared = [tfma.types.EvalSharedModel(model_name="candidate", model_type=tfma.constants.MATERIALIZED_PREDICTION)]
    if baseline_model is not None:
        shared.append(tfma.types.EvalSharedModel(model_name="baseline", is_baseline=True,
                                                 model_type=tfma.constants.MATERIALIZED_PREDICTION))
    tfma.run_model_analysis(eval_shared_model=shared, eval_config=config, data_location=data,
                            file_format="tfrecords", output_path=evaluation_result.uri)

    blessed = tfma.load_validation_result(evaluation_result.uri).validation_ok
    # The properties TFX's Evaluator sets, so LatestBlessedModelStrategy finds this model.
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_int_custom_property("current_model_id", model.id)
    blessing.set_string_custom_property("current_model", model.uri)
    if baseline_model is not None:
        blessing.set_int_custom_property("baseline_model_id", baseline_model.id)
    with tf.io.gfile.GFile(os.path.join(blessing.uri, "BLESSED" if blessed else "NOT_BLESSED"), "w") as marker:
        marker.write("")
