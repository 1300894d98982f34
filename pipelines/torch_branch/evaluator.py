"""TorchEvaluator: TFMA's blessing for a model TFMA cannot load.

TFX's Evaluator runs TensorFlow models only. This component keeps TFMA and the blessing
contract and swaps how predictions are made:
1. the raw eval split (the rows the Keras Evaluator reads) -> raw columns, and the label
   through the Transform graph (pipelines/eval_rows.py);
2. a PyTorch process scores the rows with the candidate's and the baseline's served
   TorchScript models (raw rows in, exactly as TorchServe will run them);
3. TFMA evaluates the materialized predictions with the *same* metrics, slices and
   thresholds as the Keras branch (pipelines/evaluation.py). Its outputs are TFX
   Evaluator's: a ModelEvaluation under "evaluation" and a ModelBlessing under "blessing".
"""

import json
import os

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma
import tensorflow_transform as tft
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import Examples, Model, ModelBlessing, ModelEvaluation, TransformGraph
from tfx.utils import path_utils

from components import datasets
from pipelines import evaluation as contract
from pipelines.child import run_module
from pipelines.eval_rows import read_eval_rows
from pipelines.torch_branch.runtime import MODEL_FILE

PREDICTION, BASELINE_PREDICTION = "prediction", "baseline_prediction"
RUNTIME_PREDICT = "pipelines.torch_branch.runtime.predict"


def served_model_file(model: Model) -> str:
    return os.path.join(path_utils.serving_model_path(model.uri), MODEL_FILE)


def _predict(rows_path: str, out_path: str, models: dict[str, str]) -> dict[str, np.ndarray]:
    run_module(RUNTIME_PREDICT, "--rows", rows_path, "--out", out_path,
               *[f"{name}={path}" for name, path in models.items()], what="PyTorch prediction")
    with np.load(out_path) as predictions:
        return {name: predictions[name] for name in predictions.files}


def _write_examples(path: str, dataset, rows: dict, labels: np.ndarray, predictions: dict) -> None:
    """The label, the predictions and the slice features, as tf.Examples for TFMA."""
    def feature(value):
        if isinstance(value, str):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()] if value else []))
        if isinstance(value, (int, np.integer)):
            return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
        return tf.train.Feature(float_list=tf.train.FloatList(value=[] if np.isnan(value) else [float(value)]))

    with tf.io.TFRecordWriter(path) as writer:
        for i in range(len(labels)):
            values = {dataset.label.name: int(labels[i]), **{k: float(v[i]) for k, v in predictions.items()}}
            for key in dataset.slices:  # slice keys as the raw data has them
                raw = rows[key][i]
                values[key] = raw if dataset.is_string(key) else (
                    int(raw) if dataset.raw_dtypes[key] == "int" and not np.isnan(raw) else float(raw))
            example = tf.train.Example(features=tf.train.Features(feature={k: feature(v) for k, v in values.items()}))
            writer.write(example.SerializeToString())


@component
def TorchEvaluator(
    examples: InputArtifact[Examples],
    transform_graph: InputArtifact[TransformGraph],
    model: InputArtifact[Model],
    evaluation: OutputArtifact[ModelEvaluation],
    blessing: OutputArtifact[ModelBlessing],
    thresholds: Parameter[str],  # EvalConfig as JSON
    dataset: Parameter[str],
    code: Parameter[str],  # a fingerprint of this code, for TFX's cache key
    baseline_model: InputArtifact[Model] = None,  # None: no model blessed yet
) -> None:
    """Evaluate the PyTorch candidate (and baseline) with TFMA; bless or not."""
    del code
    cfg, data = contract.EvalConfig(**json.loads(thresholds)), datasets.load(dataset)
    rows, labels = read_eval_rows(examples, tft.TFTransformOutput(transform_graph.uri), data)
    work = os.path.join(evaluation.uri, "predictions")
    tf.io.gfile.makedirs(work)
    np.savez(os.path.join(work, "rows.npz"), **rows)

    models = {PREDICTION: served_model_file(model)}
    if baseline_model is not None:
        models[BASELINE_PREDICTION] = served_model_file(baseline_model)
    predictions = _predict(os.path.join(work, "rows.npz"), os.path.join(work, "predictions.npz"), models)
    examples_path = os.path.join(work, "eval_predictions.tfrecord")
    _write_examples(examples_path, data, rows, labels, predictions)

    config = contract.materialized_eval_config(cfg, data, PREDICTION, BASELINE_PREDICTION if baseline_model else None)
    shared = [tfma.types.EvalSharedModel(model_name="candidate", model_type=tfma.constants.MATERIALIZED_PREDICTION)]
    if baseline_model is not None:
        shared.append(tfma.types.EvalSharedModel(model_name="baseline", is_baseline=True,
                                                 model_type=tfma.constants.MATERIALIZED_PREDICTION))
    tfma.run_model_analysis(eval_shared_model=shared, eval_config=config, data_location=examples_path,
                            file_format="tfrecords", output_path=evaluation.uri)

    blessed = tfma.load_validation_result(evaluation.uri).validation_ok
    # The properties TFX's Evaluator sets, so LatestBlessedModelStrategy finds this model.
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_int_custom_property("current_model_id", model.id)
    blessing.set_string_custom_property("current_model", model.uri)
    if baseline_model is not None:
        blessing.set_int_custom_property("baseline_model_id", baseline_model.id)
    with tf.io.gfile.GFile(os.path.join(blessing.uri, "BLESSED" if blessed else "NOT_BLESSED"), "w") as marker:
        marker.write("")
