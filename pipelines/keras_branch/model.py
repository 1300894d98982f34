"""The Keras model, and the SavedModel that TF Serving serves.

Model: the transformed features in the dataset's order — z-scores as they are, categorical
indices one-hot (widths from the Transform's analyzer results) — concatenated into an MLP
with one logit out. The PyTorch branch builds the same network (runtime/model.py).

The SavedModel carries the Transform graph and three signatures:
- serving_default: raw features as named tensors, one value per row (what a REST client
  sends as JSON rows); a missing number is sent as NaN, a missing string as "".
  Returns {"probability": [batch]}: TF Serving's REST API answers {"predictions": [p, ...]}.
- serving_examples: serialized tf.Examples (for TFMA and gRPC clients).
- transform_features: serialized tf.Examples -> transformed features and the label (TFMA).

Beside them, `assets.extra/contract.json` (TF Serving's folder for extra files, which it
ignores): the dataset's request contract, {"model": name, "features": {name: kind}}, as
the PyTorch branch's .mar carries it. A server that serves the SavedModel reads it from
there (serving/kserve), and clients learn the features a request must name.
"""

import json
import os

import keras
import tensorflow as tf

from components import features as F
from components.dataset import Dataset
from components.transform import sparse_from_rows
from pipelines.evaluation import SERVING_EXAMPLES_SIGNATURE, TRANSFORM_SIGNATURE
from pipelines.training import ADAM_BETAS, log_points
from serving.contract import CONTRACT_FILE

OUTPUT_KEY = "probability"


def model_inputs(dataset: Dataset) -> tuple[str, ...]:
    return tuple(F.transformed_name(f.name) for f in dataset.features)


def build_model(dataset: Dataset, sizes: dict[str, int], hp: dict) -> keras.Model:
    inputs, encoded = {}, []
    for f in dataset.features:
        name = F.transformed_name(f.name)
        if isinstance(f, F.Numeric):
            inputs[name] = keras.Input(shape=(1,), name=name, dtype="float32")
            encoded.append(inputs[name])
        else:
            inputs[name] = keras.Input(shape=(1,), name=name, dtype="int64")
            encoded.append(keras.layers.CategoryEncoding(num_tokens=sizes[f.name], output_mode="one_hot")(inputs[name]))
    x = keras.layers.Concatenate()(encoded)
    for units in hp["hidden_units"]:
        x = keras.layers.Dense(units, activation="relu")(x)  # Glorot-uniform weights, zero bias
    logit = keras.layers.Dense(1)(x)
    model = keras.Model(inputs=inputs, outputs=logit)
    model.compile(optimizer=keras.optimizers.Adam(hp["learning_rate"], beta_1=ADAM_BETAS[0], beta_2=ADAM_BETAS[1],
                                                  epsilon=hp["adam_epsilon"]),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy(threshold=0.0),
                           keras.metrics.AUC(name="auc", from_logits=True)],
                  # A logging period's steps in one call of the train function (a tf.while_loop),
                  # not one Python round trip a step.
                  steps_per_execution=log_points(hp["train_steps"])[1])
    return model


def as_model_inputs(dataset: Dataset, transformed: dict) -> dict:
    """Transform yields [batch] tensors; the model takes [batch, 1] per input."""
    return {name: tf.expand_dims(transformed[name], -1) for name in model_inputs(dataset)}


def export_serving_model(model, dataset: Dataset, tf_transform_output, export_dir: str):
    """Save the model with the Transform graph inside and the three signatures."""
    export = tf.Module()  # tracks the model and the Transform layer's assets together
    export.model = model
    export.tft_layer = tf_transform_output.transform_features_layer()
    raw_spec = tf_transform_output.raw_feature_spec()
    serving_spec = {name: raw_spec[name] for name in dataset.serving_features}

    def predict(raw_features):
        transformed = export.tft_layer(raw_features)
        logit = export.model(as_model_inputs(dataset, transformed))
        return {OUTPUT_KEY: tf.sigmoid(tf.squeeze(logit, axis=-1))}

    # Numbers arrive as float64 so that 11-digit ids (census tracts) survive exactly.
    raw_inputs = {
        name: tf.TensorSpec([None], tf.string if spec.dtype == tf.string else tf.float64, name=name)
        for name, spec in serving_spec.items()}

    @tf.function(input_signature=[raw_inputs])
    def serve_raw(raw):
        return predict({name: sparse_from_rows(raw[name], spec.dtype) for name, spec in serving_spec.items()})

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(serialized):
        return predict(tf.io.parse_example(serialized, serving_spec))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(serialized):
        return export.tft_layer(tf.io.parse_example(serialized, raw_spec))

    tf.saved_model.save(export, export_dir, signatures={
        "serving_default": serve_raw.get_concrete_function(),
        SERVING_EXAMPLES_SIGNATURE: serve_examples.get_concrete_function(),
        TRANSFORM_SIGNATURE: transform_features.get_concrete_function(),
    })
    write_contract(dataset, export_dir)


def write_contract(dataset: Dataset, export_dir: str) -> None:
    """The request contract into the SavedModel's assets.extra/ (serving/contract.py's format)."""
    extra = os.path.join(export_dir, "assets.extra")
    tf.io.gfile.makedirs(extra)
    with tf.io.gfile.GFile(os.path.join(extra, CONTRACT_FILE), "w") as f:
        f.write(json.dumps({"model": dataset.model_name, "features": dataset.contract()}, indent=1))
