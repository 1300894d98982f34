"""`tandem compare`: the Keras and the PyTorch model side by side, from their latest runs.

Writes <out>/comparison.md (with PNG plots beside it) and a self-contained
<out>/comparison.html (the same, plots inlined). Sections: quality (AUC, accuracy, log
loss, precision, recall), calibration, metrics by slice, training wall time and
examples/s, model size on disk, inference latency p50/p99 at batch 1 and 64, how often
the two models agree, and the hardware it ran on.

Both models are scored on the same raw eval rows — ExampleGen's eval split, which both
evaluators read — one after the other (reporting/score.py). The Keras model is scored here:
this process loads TensorFlow anyway (tf.Transform reads the rows, TFMA the metrics). The
PyTorch model is scored in a process of its own (the two frameworks cannot share one), started
first: it imports PyTorch and waits for the rows while this process imports TFX, tf.Transform
and TFMA (seconds each, so those imports wait until it has started), reads the runs and the
rows. A second process for Keras, as before, imported TensorFlow beside this one's: on 2 cores
the comparison took 10.9-11.9 s with it, 8.9-9.9 s without (alternated).
"""

import contextlib
import json
import os
import platform

import numpy as np

from components import datasets
from pipelines.branches import BRANCHES
from pipelines.child import Child
from pipelines.home import metadata_path
from pipelines.metadata import Metadata, NoRunError
from pipelines.training import REPORT_FILE

__all__ = ["NoRunError", "compare"]


def _size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def _hardware(torch_device: str) -> str:
    cpu = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM; {platform.platform()}; "
            f"Python {platform.python_version()}; PyTorch trained on: {torch_device}")


def _blessed(evaluation) -> bool:
    return "blessing" in evaluation.outputs and evaluation.output("blessing").get_int_custom_property("blessed") == 1


def _pushed_version(metadata: Metadata, pusher_id: str, model_id: int) -> str | None:
    """The version a branch's pusher published `model_id` as (None: not pushed yet)."""
    for push in metadata.finished(pusher_id):
        if push.input("model").id == model_id and "pushed_model" in push.outputs:
            pushed = push.output("pushed_model")
            if pushed.get_int_custom_property("pushed") == 1:
                return pushed.get_string_custom_property("pushed_version")
    return None


IN_THIS_PROCESS = "keras"  # the branch scored here (see above)


def collect(home: str, dataset_name: str, work: str, scorers: dict[str, Child]) -> dict:
    import tensorflow_transform as tft  # TensorFlow: after the scorers started (see above)
    from tfx.utils import path_utils

    from pipelines.eval_rows import read_eval_rows
    from reporting.score import LOADERS, score_and_time
    from reporting.summary import candidate_metrics

    dataset = datasets.load(dataset_name)
    path = metadata_path(home, dataset_name)
    if not os.path.exists(path):
        raise NoRunError(f"no metadata store at {path}: run `tandem run all` first")
    metadata = Metadata(path)
    try:  # each branch's latest blessed model
        evaluations = {key: metadata.latest_finished(b.evaluator_id, where=_blessed) for key, b in BRANCHES.items()}
    except NoRunError as error:
        raise NoRunError(f"{error.args[0].replace('finished', 'blessed')}: run `tandem run all` first") from None
    examples = {key: e.input("examples") for key, e in evaluations.items()}
    report = {"dataset": dataset, "same_eval_data": len({e.id for e in examples.values()}) == 1}
    trainers = {key: metadata.producer(e.input("model")) for key, e in evaluations.items()}
    transform = tft.TFTransformOutput(trainers["torch"].input("transform_graph").uri)
    rows, labels = read_eval_rows(examples["torch"], transform, dataset)
    rows_path = os.path.join(work, "rows.npz")
    np.savez(rows_path, **rows)
    for key, branch in BRANCHES.items():
        model = evaluations[key].input("model")
        report.setdefault("compared", {})[key] = {
            "model_id": model.id, "run": metadata.run_of(evaluations[key]),
            "pushed_version": _pushed_version(metadata, branch.pusher_id, model.id)}
        overall, slices = candidate_metrics(evaluations[key].output("evaluation").uri)
        model_path = os.path.join(path_utils.serving_model_path(evaluations[key].input("model").uri),
                                  branch.serving_file)
        training_file = os.path.join(trainers[key].output("model_run").uri, REPORT_FILE)
        training = {}
        if os.path.exists(training_file):
            with open(training_file) as f:
                training = json.load(f)
        out = os.path.join(work, key)
        if key in scorers:
            scorers[key].finish(f"{model_path}\n{rows_path}\n{out}\n")
        else:
            score_and_time(LOADERS[key]()(model_path), rows_path, out)
        with open(out + ".json") as f:
            latency = json.load(f)
        report[key] = {"overall": overall, "slices": slices, "training": training, "model_path": model_path,
                       "model_bytes": _size(model_path), "latency": latency, "probabilities": np.load(out + ".npy")}
    report["labels"] = labels
    keras_p, torch_p = report["keras"]["probabilities"], report["torch"]["probabilities"]
    report["agreement"] = float(np.mean((keras_p > 0.5) == (torch_p > 0.5)))
    report["mean_abs_difference"] = float(np.mean(np.abs(keras_p - torch_p)))
    report["hardware"] = _hardware(report["torch"]["training"].get("device", "unknown"))
    return report


def compare(home: str, dataset: str, out_dir: str) -> tuple[str, str]:
    from reporting.markdown import write_report

    work = os.path.join(out_dir, ".work")
    os.makedirs(work, exist_ok=True)
    with contextlib.ExitStack() as started:  # scorers not finished (an error here) are killed
        scorers = {key: started.enter_context(Child("reporting.score", key, what=f"scoring the {branch.title} model"))
                   for key, branch in BRANCHES.items() if key != IN_THIS_PROCESS}
        report = collect(home, dataset, work, scorers)
    return write_report(report, out_dir)
