"""The Keras model: `run_fn` is what the TFX Trainer calls.

Model: every transformed feature, categorical ones one-hot encoded, concatenated into an
MLP with a sigmoid output: P(big tipper). The PyTorch pipeline builds the same network.

The SavedModel carries the Transform graph and three signatures:
- serving_default: raw features as named tensors, one value per row (what a REST client
  sends as JSON rows); a missing number is sent as NaN, a missing string as "".
  Returns {"probability": [batch]}.
- serving_examples: serialized tf.Examples (for TFMA and gRPC clients).
- transform_features: serialized tf.Examples -> transformed features and the label (TFMA).
"""

import json
import os
import time

import keras
from absl import logging
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from components import features as F
from components.transform import sparse_from_rows
from pipelines.evaluation import SERVING_EXAMPLES_SIGNATURE, TRANSFORM_SIGNATURE

OUTPUT_KEY = "probability"


def categorical_sizes(tf_transform_output: tft.TFTransformOutput) -> dict[str, int]:
    """The number of distinct indices each categorical transformed feature can take."""
    sizes = {F.transformed_name(f.name): f.size for f in F.ORDINAL + F.QUANTILES}
    for f in F.VOCABULARY:  # vocabulary + one out-of-vocabulary bucket
        vocab = tf_transform_output.vocabulary_size_by_name(F.vocabulary_name(f.name))
        sizes[F.transformed_name(f.name)] = vocab + 1
    return sizes


def build_model(sizes: dict[str, int], hidden_units, learning_rate: float) -> keras.Model:
    inputs, encoded = {}, []
    for f in F.NUMERIC:
        name = F.transformed_name(f.name)
        inputs[name] = keras.Input(shape=(1,), name=name, dtype="float32")
        encoded.append(inputs[name])
    for name, size in sizes.items():
        inputs[name] = keras.Input(shape=(1,), name=name, dtype="int64")
        encoded.append(keras.layers.CategoryEncoding(num_tokens=size, output_mode="one_hot")(inputs[name]))
    x = keras.layers.Concatenate()(encoded)
    for units in hidden_units:
        x = keras.layers.Dense(units, activation="relu")(x)
    output = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs=inputs, outputs=output)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy",
                  metrics=[keras.metrics.BinaryAccuracy(), keras.metrics.AUC(name="auc")])
    return model


MODEL_INPUTS = tuple(F.transformed_name(f.name) for f in F.MODEL_FEATURES)


def _as_model_inputs(transformed: dict) -> dict:
    """Transform yields [batch] tensors; the model takes [batch, 1] per input."""
    return {name: tf.expand_dims(transformed[name], -1) for name in MODEL_INPUTS}


def _dataset(files, data_accessor, tf_transform_output, batch_size, seed):
    dataset = data_accessor.tf_dataset_factory(
        files,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=F.LABEL, shuffle_seed=seed),
        tf_transform_output.transformed_metadata.schema,
    )
    return dataset.map(lambda x, y: (_as_model_inputs(x), y)).repeat()


def export_serving_model(model, tf_transform_output, export_dir: str):
    """Save the model with the Transform graph inside and the three signatures."""
    export = tf.Module()  # tracks the model and the Transform layer's assets together
    export.model = model
    export.tft_layer = tf_transform_output.transform_features_layer()
    raw_spec = tf_transform_output.raw_feature_spec()
    serving_spec = {name: raw_spec[name] for name in F.SERVING_FEATURES}

    def predict(raw_features):
        transformed = export.tft_layer(raw_features)
        probability = export.model(_as_model_inputs(transformed))
        return {OUTPUT_KEY: tf.squeeze(probability, axis=-1)}

    # Numbers arrive as float64 so that 11-digit census tract ids survive exactly.
    raw_inputs = {
        name: tf.TensorSpec([None], tf.string if spec.dtype == tf.string else tf.float64, name=name)
        for name, spec in serving_spec.items()}

    @tf.function(input_signature=[raw_inputs])
    def serve_raw(raw):
        return predict({name: sparse_from_rows(raw[name], spec.dtype)
                        for name, spec in serving_spec.items()})

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


def _log_epoch(epoch, logs):
    logging.info("epoch %d: %s", epoch + 1, ", ".join(f"{k}={v:.4f}" for k, v in sorted(logs.items())))


def run_fn(fn_args: tfx.components.FnArgs):
    """TFX Trainer will call this function."""
    hp = fn_args.custom_config["train"]
    keras.utils.set_random_seed(hp["seed"])
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train = _dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output, hp["batch_size"], hp["seed"])
    evaluation = _dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, hp["batch_size"], hp["seed"])

    model = build_model(categorical_sizes(tf_transform_output), hp["hidden_units"], hp["learning_rate"])
    epochs = max(1, min(10, fn_args.train_steps))  # several points on the TensorBoard curves
    steps_per_epoch = max(1, fn_args.train_steps // epochs)
    start = time.perf_counter()
    model.fit(
        train,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        validation_data=evaluation,
        validation_steps=fn_args.eval_steps,
        callbacks=[keras.callbacks.TensorBoard(log_dir=os.path.join(fn_args.model_run_dir, "keras")),
                   keras.callbacks.LambdaCallback(on_epoch_end=_log_epoch)],
        shuffle=False,  # tfxio already shuffles (seeded); Keras cannot shuffle a Dataset
        verbose=0,  # the terminal shows component progress; epochs go to the log
    )
    seconds = time.perf_counter() - start
    export_serving_model(model, tf_transform_output, fn_args.serving_model_dir)
    # Beside the model, as the PyTorch trainer does: what `tandem compare` reports.
    steps = steps_per_epoch * epochs
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, "training.json"), "w") as f:
        json.dump({"device": "gpu" if tf.config.list_physical_devices("GPU") else "cpu", "train_steps": steps,
                   "train_seconds": seconds, "examples_per_second": steps * hp["batch_size"] / seconds}, f, indent=1)
