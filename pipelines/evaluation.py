"""The evaluation contract both pipelines bless against: metrics, slices and thresholds.

One `eval_config` for TFMA: AUC and accuracy must clear fixed values, and AUC may not
fall more than `max_auc_drop` below the last blessed model's (the baseline, found by the
resolver). A model that fails any threshold is not blessed, so the Pusher pushes nothing.
"""

from dataclasses import dataclass

from tensorflow_model_analysis.proto import config_pb2 as tfma

from components.dataset import Dataset

SERVING_EXAMPLES_SIGNATURE = "serving_examples"  # serialized tf.Examples in, for TFMA
TRANSFORM_SIGNATURE = "transform_features"  # raw tf.Examples -> transformed (label too)


@dataclass(frozen=True)
class EvalConfig:
    """Blessing thresholds, the same for both branches (slices come from the dataset);
    PipelineConfig holds one. Here, not in pipelines/config.py, which imports the front: the
    trainers and evaluators that read this module would carry the front's code in their
    cache keys (components/fingerprint.py)."""

    min_auc: float = 0.7
    min_accuracy: float = 0.7
    # The candidate may be at most this much worse (AUC) than the last blessed model.
    max_auc_drop: float = 0.01


def _overall_threshold(lower: float, max_drop: float | None = None) -> list:
    """A threshold on the whole eval split only: slices are reported, not gated (a
    single hour of the day is too small a sample to block a model on)."""
    change = None
    if max_drop is not None:
        change = tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -max_drop})
    threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": lower}),
        change_threshold=change)
    return [tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=threshold)]


def eval_config(cfg: EvalConfig, dataset: Dataset) -> tfma.EvalConfig:
    """For a SavedModel that TFMA runs: serialized raw examples in, the label from the
    Transform graph inside it (the Keras model's signatures)."""
    metrics = [
        tfma.MetricConfig(class_name="ExampleCount"),
        tfma.MetricConfig(class_name="AUC",
                          per_slice_thresholds=_overall_threshold(cfg.min_auc, cfg.max_auc_drop)),
        tfma.MetricConfig(class_name="BinaryAccuracy",
                          per_slice_thresholds=_overall_threshold(cfg.min_accuracy)),
        tfma.MetricConfig(class_name="BinaryCrossentropy"),
        tfma.MetricConfig(class_name="Precision"),
        tfma.MetricConfig(class_name="Recall"),
    ]
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(
            signature_name=SERVING_EXAMPLES_SIGNATURE,
            label_key=dataset.label.name,
            preprocessing_function_names=[TRANSFORM_SIGNATURE])],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
        slicing_specs=[tfma.SlicingSpec()]
        + [tfma.SlicingSpec(feature_keys=[key]) for key in dataset.slices],
    )


def materialized_eval_config(cfg: EvalConfig, dataset: Dataset, prediction_key: str,
                             baseline_key: str | None) -> tfma.EvalConfig:
    """The same metrics, slices and thresholds, over predictions already in the examples
    (for models TFMA cannot load). Without a baseline, change thresholds cannot apply."""
    config = eval_config(cfg, dataset)
    del config.model_specs[:]
    label = dataset.label.name
    config.model_specs.add(name="candidate", label_key=label, prediction_key=prediction_key)
    if baseline_key:
        config.model_specs.add(name="baseline", label_key=label, prediction_key=baseline_key, is_baseline=True)
    else:
        for spec in config.metrics_specs:
            for metric in spec.metrics:
                for per_slice in metric.per_slice_thresholds:
                    per_slice.threshold.ClearField("change_threshold")
    return config
