"""Benchmark: each trainer's examples/s from the Transform's output, beside its floor.

    python -m bench.train_throughput [--rows 1300000] [--batch-size 64 [1024 ...]] [--work DIR]
                                     [--device cpu|cuda|all]
    python -m bench.train_throughput --examples DIR --transform-dir DIR [--batch-size ...] [--device cuda]

Data: --rows rows generated from the taxi sample through tandem's whole front
(bench/engine_throughput: generate, front_pipeline), once per --work folder; a later run
with the same --rows and the same front code (components/) reuses that Transform output.
Each trainer runs one epoch of the train split (about 80 % of the rows): the default gives
it more than 1e6 rows.

End-to-end: TFX's own Trainer executor (GenericExecutor.Do, which builds the FnArgs from the
artifacts as a pipeline run does) calls the branch's real run_fn on the prepared output.
Timed from that call to the last optimizer step, which is the wall time of the training-loss
event each trainer writes to TensorBoard there (PyTorch: right after the step; Keras: at the
end of its last epoch, after that epoch's validation pass). So it counts reading the
Transform's Parquet output, the canonical order, and the loop with its periodic eval; not the
serving-model export, final eval and report after the last step, which the breakdown shows
apart. The PyTorch trainer runs twice:
- torch: as `tandem run` runs it. The run starts the PyTorch runtime's process ahead
  (pipelines/child.Spare), and its imports (PyTorch, TorchDynamo: 3-4 s here) happen while the
  front runs, tens of seconds before the Trainer; so here it is started, and ready, before the
  clock. run_fn hands it the job, and it reads the Parquet splits and trains.
- torch-cold: no process started ahead (a Kubeflow or Vertex pod, a run that did not start
  one): run_fn starts it, and its imports are on the clock.

Floor: tandem's own network (Net / build_model, Adam as the trainer sets it) trained for the
same steps at the same batch (and, on a CPU, the same intra-op threads) on random columns of
the split's shapes and dtypes, in memory:
PyTorch gathers each batch from tensors already on the device by precomputed indices; Keras
runs model.fit on a tf.data gather from in-memory tensors (its own in-memory input path).
The target: PyTorch end-to-end >= 0.9x its floor; Keras is reported beside it.

Each measurement runs in a process of its own (the PyTorch floor's never loads TensorFlow:
pipelines/torch_branch/runtime), on CPU with CUDA hidden, on CUDA where PyTorch sees one.
Several --batch-size values give a row each; both trainers train at each. --repeat N measures
each row N times, end-to-end and floor taking turns, and shows the pair with the median ratio
beside every pair's ratio: on a shared machine both columns drift by 10-40 % between runs.

--examples: for a GPU machine without TensorFlow (PyTorch alone, as the PyTorch runtime's
container has it). DIR is a Transform's transformed_examples artifact (its Split-train and
Split-eval Parquet) and --transform-dir its TransformGraph. Only the PyTorch trainer is timed
(torch, torch-cold as above), from the job to the last optimizer step, without TFX's executor.
"""

import argparse
import contextlib
import dataclasses
import glob
import json
import logging
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from components import datasets
from components import features as F
from components.analyzer_results import AnalyzerResults
from pipelines.child import Spare, run_module, start
from pipelines.torch_branch.runtime import TRAIN_MODULE, train_args
from pipelines.training import REPORT_FILE, batches

# TensorFlow-side imports live in the functions that need them: this module also runs the
# PyTorch floor, in a process that must not load TensorFlow.

PREPARED = "transform_output.json"  # in --work: the prepared Transform output and its split sizes
RUN_FNS = {"torch": "pipelines.torch_branch.trainer.run_fn", "keras": "pipelines.keras_branch.trainer.run_fn"}
TARGET = {"torch": 0.9, "torch-cold": 0.9}  # end-to-end / floor, at least
SPARE_READY = 120  # seconds a spare may take to import
WARMUP = 20  # untimed floor steps first: tracing and lazy initialization are not stepping


def prepare(rows: int, work: str) -> dict:
    """The Transform output of `rows` generated taxi rows (once per --work and --rows)."""
    from components.fingerprint import code_fingerprint

    marker, code = os.path.join(work, PREPARED), code_fingerprint("components.front")
    if os.path.exists(marker):
        with open(marker) as f:
            prepared = json.load(f)
        if prepared["rows"] == rows and prepared.get("code") == code:
            return {**prepared, "reused": True}
    import tensorflow_data_validation as tfdv

    from bench.engine_throughput import front_pipeline, generate, statistics_files
    from pipelines.config import local_beam_args
    from pipelines.home import temporary_folder
    from pipelines.runner import run_pipeline

    for stale in ("data", "root", "metadata.sqlite", "runs"):  # another --rows' outputs, if any
        path = os.path.join(work, stale)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
    print(f"preparing {rows:,} rows: generate, then the front and Transform ...", file=sys.stderr, flush=True)
    csv_path = generate(rows, work)
    with temporary_folder():  # TFX's sdists and Beam's leftovers
        seconds = run_pipeline(front_pipeline(csv_path, work, local_beam_args(os.path.getsize(csv_path))),
                               echo=lambda _: None)
    (transform_dir,) = glob.glob(os.path.join(work, "root", "Transform", "transform_graph", "*"))
    (examples_dir,) = glob.glob(os.path.join(work, "root", "Transform", "transformed_examples", "*"))
    train_rows = tfdv.load_stats_binary(statistics_files(work)["train"]).datasets[0].num_examples
    prepared = {"rows": rows, "code": code, "dataset": "taxi", "train_rows": train_rows, "front_seconds": seconds,
                "transform_dir": transform_dir, "examples_dir": examples_dir}
    with open(marker, "w") as f:
        json.dump(prepared, f)
    return {**prepared, "reused": False}


@contextlib.contextmanager
def timed(owner, name: str, spans: dict):
    """owner.name wrapped, not changed: spans[name] gets each call's (start, end) wall times."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.time()
        try:
            return original(*args, **kwargs)
        finally:
            spans.setdefault(name, []).append((start, time.time()))

    setattr(owner, name, wrapper)
    try:
        yield
    finally:
        setattr(owner, name, original)


def events(log_dir: str, tag: str) -> dict[int, float]:
    """{step: wall time} of a tag's events in a TensorBoard folder (TensorBoard's reader: no
    TensorFlow needed)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    return {event.step: event.wall_time for path in sorted(glob.glob(os.path.join(log_dir, "events.out.tfevents.*")))
            for event in EventFileLoader(path).Load() if any(v.tag == tag for v in event.summary.value)}


@contextlib.contextmanager
def runtime_started(ahead: bool):
    """The PyTorch runtime's process started ahead and ready (a Spare), or none."""
    if not ahead:
        yield
        return
    with Spare(TRAIN_MODULE) as spare:
        if not spare.ready(SPARE_READY):
            raise RuntimeError(f"the PyTorch runtime started ahead was not ready in {SPARE_READY} s")
        yield


def end_to_end(trainer: str, prepared: dict, hp: dict, out: str) -> dict:
    """The branch's run_fn through TFX's Trainer executor (trainer: torch, torch-cold or
    keras); seconds to the last step, and where they went."""
    from tfx.components.trainer.executor import GenericExecutor
    from tfx.proto import trainer_pb2
    from tfx.types import artifact_utils, standard_artifacts
    from tfx.types import standard_component_specs as specs
    from tfx.utils import json_utils, proto_utils

    from components import materialize
    from pipelines import transformed_data

    def artifact(kind, uri):
        made = kind()
        made.uri = uri
        return made

    examples = artifact(standard_artifacts.Examples, prepared["examples_dir"])
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    materialize.mark_parquet(examples)  # as the Transform marks it
    inputs = {specs.EXAMPLES_KEY: [examples],
              specs.TRANSFORM_GRAPH_KEY: [artifact(standard_artifacts.TransformGraph, prepared["transform_dir"])]}
    run_dir = os.path.join(out, "model_run")
    outputs = {specs.MODEL_KEY: [artifact(standard_artifacts.Model, os.path.join(out, "model"))],
               specs.MODEL_RUN_KEY: [artifact(standard_artifacts.ModelRun, run_dir)]}
    properties = {specs.RUN_FN_KEY: RUN_FNS[trainer.split("-")[0]],
                  specs.TRAIN_ARGS_KEY: proto_utils.proto_to_json(trainer_pb2.TrainArgs(num_steps=hp["train_steps"])),
                  specs.EVAL_ARGS_KEY: proto_utils.proto_to_json(trainer_pb2.EvalArgs(num_steps=hp["eval_steps"])),
                  specs.CUSTOM_CONFIG_KEY: json_utils.dumps({"dataset": prepared["dataset"], "train": hp})}
    # The trainers import these by name, and TFX reloads a run_fn's module before it calls it,
    # so they are wrapped where they are defined.
    spans, patched = {}, []
    if trainer == "keras":  # the PyTorch trainer reads in its own process
        from pipelines.keras_branch import model

        patched = [(transformed_data, "in_canonical_order"), (transformed_data, "load_split"),
                   (model, "export_serving_model")]
    with contextlib.ExitStack() as stack, runtime_started(trainer == "torch"):
        for owner, name in patched:
            stack.enter_context(timed(owner, name, spans))
        begin = time.time()
        GenericExecutor().Do(inputs, outputs, properties)
        end = time.time()
    return training_result(trainer, run_dir, spans, begin, end)


def without_tensorflow(trainer: str, prepared: dict, hp: dict, out: str) -> dict:
    """--examples: the PyTorch runtime alone, given the job as run_fn gives it (torch: to a
    process started ahead; torch-cold: one started with it); seconds to the last optimizer
    step, and where they went."""
    run_dir = os.path.join(out, "model_run")
    os.makedirs(run_dir)
    splits = [[os.path.join(prepared["examples_dir"], f"Split-{split}", "*")] for split in ("train", "eval")]
    with runtime_started(trainer == "torch"):
        begin = time.time()
        with start(TRAIN_MODULE, *train_args(*splits, prepared["transform_dir"], prepared["dataset"],
                                             os.path.join(out, "model"), run_dir, json.dumps(hp)),
                   what="PyTorch training") as training:
            training.finish()
        end = time.time()
    return training_result(trainer, run_dir, {}, begin, end)


def training_result(trainer: str, run_dir: str, spans: dict, start: float, end: float) -> dict:
    """A finished training run's result: seconds to its last step, where they went (see
    where_time_went), its optimizer steps and device, from its report and TensorBoard logs."""
    with open(os.path.join(run_dir, REPORT_FILE)) as f:
        report = json.load(f)
    seconds, parts = where_time_went(trainer, os.path.join(run_dir, report["framework"]), report, spans, start, end)
    return {"seconds": seconds, "parts": parts, "steps": report["optimizer_steps"],
            "device": {"gpu": "cuda"}.get(report["device"], report["device"])}


def where_time_went(trainer: str, logs: str, report: dict, spans: dict, start: float, end: float):
    """(seconds from `start` to the last optimizer step, {part: seconds}: how they divide, and
    what came after). `logs`: the trainer's TensorBoard folder, whose events time its loop."""
    torch = trainer != "keras"
    trained = events(os.path.join(logs, "train"), "epoch_loss")
    last_step = max(trained.values())  # PyTorch logs right after it; Keras after the epoch's validation
    if torch:  # the loop's last statement logs the eval loss
        validated = events(os.path.join(logs, "validation"), "epoch_loss")
        loop_start = max(validated.values()) - report["train_seconds"]
    else:  # Keras logs the model summary as fit starts its loop
        loop_start = events(os.path.join(logs, "train"), "keras")[0]

    def took(name):
        return sum(b - a for a, b in spans[name])

    if torch:  # all in the PyTorch process: its start (cold), reading, order, network
        started = "read Parquet, order" if trainer == "torch" else "start the PyTorch process, read Parquet, order"
        parts = {f"job to the loop ({started})": loop_start - start}
    else:
        load, order = took("load_split"), took("in_canonical_order")
        parts = {"read Parquet": load - order, "canonical order": order,
                 "rest before the loop (model, fit's setup)": loop_start - start - load}
    parts["loop to the last step"] = last_step - loop_start
    if torch:
        parts["of which eval passes"] = sum(validated[s] - t for s, t in trained.items() if t < last_step)
    parts["after the last step, not counted"] = end - last_step
    if trainer == "keras":
        parts["of which fit returning"] = spans["export_serving_model"][0][0] - last_step
    return last_step - start, parts


def random_columns(dataset, sizes: dict, rows: int, seed: int) -> tuple[dict, np.ndarray]:
    """Transformed columns of the split's shapes and dtypes: z-scores, category indices, 0/1 labels."""
    rng = np.random.default_rng(seed)
    columns = {F.transformed_name(f.name): rng.standard_normal(rows, np.float32) if isinstance(f, F.Numeric)
               else rng.integers(0, sizes[f.name], rows, np.int64) for f in dataset.features}
    return columns, rng.integers(0, 2, rows).astype(np.float32)


def torch_floor(prepared: dict, hp: dict, device_name: str) -> dict:
    """runtime/train.py's network and optimizer step, on device tensors; the batch indices are
    made before the clock starts (the trainer makes each one inside its loop)."""
    import torch

    from pipelines.torch_branch.runtime.train import network, optimizer_step, use_cpu_threads

    torch.manual_seed(hp["seed"])
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = torch.device(device_name)
    dataset, sizes = datasets.load(prepared["dataset"]), AnalyzerResults.read(prepared["transform_dir"]).size
    columns, labels = random_columns(dataset, sizes, prepared["train_rows"], hp["seed"])
    x = {name: torch.from_numpy(values).to(device) for name, values in columns.items()}
    y = torch.from_numpy(labels).to(device)
    net, optimizer = network(dataset, sizes, hp, device)
    use_cpu_threads(net, hp["batch_size"], device)  # as the trainer does
    steps = hp["train_steps"]
    index = [torch.from_numpy(i).to(device)
             for i in batches(prepared["train_rows"], hp["batch_size"], WARMUP + steps, hp["seed"])]

    def step(number, rows):
        optimizer_step(net, optimizer, x, y, rows, number, hp["adam_epsilon"])

    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    for number, rows in enumerate(index[:WARMUP], start=1):
        step(number, rows)
    sync()
    start = time.perf_counter()
    for number, rows in enumerate(index[WARMUP:], start=WARMUP + 1):
        step(number, rows)
    sync()
    return {"seconds": time.perf_counter() - start, "device": device.type}


def keras_floor(prepared: dict, hp: dict) -> dict:
    """build_model (its compile: Adam, loss, metrics) under run_fn's seed and op determinism,
    fitted without callbacks or validation; indices made before the clock starts."""
    import keras
    import tensorflow as tf

    from pipelines.keras_branch.model import build_model
    from pipelines.keras_branch.trainer import gathered

    keras.utils.set_random_seed(hp["seed"])
    tf.config.experimental.enable_op_determinism()
    dataset, sizes = datasets.load(prepared["dataset"]), AnalyzerResults.read(prepared["transform_dir"]).size
    columns, labels = random_columns(dataset, sizes, prepared["train_rows"], hp["seed"])
    x = {name: tf.constant(values.reshape(-1, 1)) for name, values in columns.items()}
    y = tf.constant(labels.reshape(-1, 1))
    model, steps = build_model(dataset, sizes, hp), hp["train_steps"]
    index = np.stack(list(batches(prepared["train_rows"], hp["batch_size"], WARMUP + steps, hp["seed"])))

    def batches_of(rows):  # as the trainer gathers them
        return gathered(tf.data.Dataset.from_tensor_slices(rows), x, y).prefetch(2)

    model.fit(batches_of(index[:WARMUP]), verbose=0)
    start = time.perf_counter()
    model.fit(batches_of(index[WARMUP:]), steps_per_epoch=steps, verbose=0)
    seconds = time.perf_counter() - start
    if int(model.optimizer.iterations.numpy()) != WARMUP + steps:
        raise RuntimeError("the Keras floor took another number of steps")
    return {"seconds": seconds, "device": "cuda" if tf.config.list_physical_devices("GPU") else "cpu"}


def child_main(args) -> dict:
    """One measurement in this process (see `measure`); its result is printed as JSON."""
    if args.child == "probe":
        import torch

        return {"gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    prepared, hp = json.loads(args.prepared), json.loads(args.config)
    if args.trainer == "keras" and args.device == "cuda":
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            return {"skipped": "TensorFlow sees no GPU"}
    if args.child == "floor":
        return keras_floor(prepared, hp) if args.trainer == "keras" else torch_floor(prepared, hp, args.device)
    out = os.path.join(args.work, "runs", f"{args.trainer}-{args.device}-{hp['batch_size']}")
    shutil.rmtree(out, ignore_errors=True)
    if prepared.get("without_tensorflow"):
        return without_tensorflow(args.trainer, prepared, hp, out)
    return end_to_end(args.trainer, prepared, hp, out)


def measure(kind: str, trainer: str, device: str, work: str, prepared: dict, hp: dict) -> dict:
    """`kind` (end-to-end or floor) of `trainer` on `device`, in a child process; CUDA hidden for cpu."""
    out = run_module(__spec__.name, "--child", kind, "--trainer", trainer, "--device", device, "--work", work,
                     "--prepared", json.dumps(prepared), "--config", json.dumps(hp),
                     what=f"{trainer} {kind} at batch {hp['batch_size']} on {device}",
                     env={"CUDA_VISIBLE_DEVICES": ""} if device == "cpu" else None)
    result = json.loads(out.strip().splitlines()[-1])
    if "device" in result and result["device"] != device:
        raise RuntimeError(f"{trainer} {kind}: asked for {device}, ran on {result['device']}")
    return result


def table(rows: list[dict]) -> list[str]:
    head = (f"{'trainer':<10} | {'device':<6} | {'rows':>9} | {'steps':>6} | {'batch':>5} | {'e2e ex/s':>9} | "
            f"{'floor ex/s':>10} | {'ratio':>5} | {'target':>6} | met?")
    lines = [head, "-" * len(head)]
    for r in rows:
        batch = r["batch"]
        e2e, floor = r["steps"] * batch / r["e2e"]["seconds"], r["steps"] * batch / r["floor"]["seconds"]
        target = TARGET.get(r["trainer"])
        met = "-" if target is None else "yes" if e2e / floor >= target else "NO"
        lines.append(f"{r['trainer']:<10} | {r['device']:<6} | {r['train_rows']:>9,} | {r['steps']:>6,} | "
                     f"{batch:>5} | {e2e:>9,.0f} | {floor:>10,.0f} | {e2e / floor:>5.2f} | "
                     f"{f'>= {target}' if target else '-':>6} | {met}")
    return lines


def transform_output(examples_dir: str, transform_dir: str, dataset: str) -> dict:
    """--examples: what `prepare` returns, for a Transform output made elsewhere."""
    import pyarrow.parquet as pq

    train = glob.glob(os.path.join(examples_dir, "Split-train", "*"))
    if not train:
        raise SystemExit(f"--examples {examples_dir}: no Split-train files (a transformed_examples artifact?)")
    return {"rows": None, "dataset": dataset, "train_rows": sum(pq.ParquetFile(f).metadata.num_rows for f in train),
            "examples_dir": os.path.abspath(examples_dir), "transform_dir": os.path.abspath(transform_dir),
            "without_tensorflow": True}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_300_000, help="generated rows (train split: about 80 %%)")
    parser.add_argument("--batch-size", type=int, nargs="+", default=None,
                        help="both trainers' (default: TrainConfig's); several: a row each")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "tandem-bench-train-throughput"),
                        help="where the prepared data lies, reused by later runs (default: %(default)s)")
    parser.add_argument("--device", choices=("cpu", "cuda", "all"), default="all",
                        help="all: cpu, and cuda where PyTorch sees a GPU")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure each row this many times, end-to-end and floor taking turns, and show the "
                             "pair with the median ratio (a shared machine's speed drifts between runs)")
    parser.add_argument("--examples", metavar="DIR",
                        help="no TensorFlow here: time the PyTorch trainer alone on this Transform output "
                             "(a transformed_examples artifact: Split-train, Split-eval Parquet)")
    parser.add_argument("--transform-dir", help="with --examples: its TransformGraph folder")
    parser.add_argument("--dataset", default="taxi", help="with --examples: the dataset it holds")
    for hidden in ("--child", "--trainer", "--config", "--prepared"):  # a measurement's own process (see `measure`)
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_main(args)))
        return
    if args.repeat < 1:
        parser.error("--repeat: at least 1")
    if args.examples and not args.transform_dir:
        parser.error("--examples needs --transform-dir")
    from pipelines.training import TrainConfig

    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    if args.examples:
        prepared, trainers = {**transform_output(args.examples, args.transform_dir, args.dataset),
                              "reused": True}, ["torch", "torch-cold"]
    else:
        prepared, trainers = prepare(args.rows, work), ["torch", "torch-cold", "keras"]
    logging.getLogger("absl").setLevel(logging.WARNING)  # run_module logs each child's whole output at INFO
    gpu = json.loads(run_module(__spec__.name, "--child", "probe", what="GPU probe").strip().splitlines()[-1])["gpu"]
    if args.device == "cuda" and not gpu:
        parser.error("--device cuda: PyTorch sees no CUDA device")
    devices = {"cpu": ["cpu"], "cuda": ["cuda"], "all": ["cpu"] + (["cuda"] if gpu else [])}[args.device]
    results, skipped, load = [], [], os.getloadavg()[0]
    for batch_size in args.batch_size or [TrainConfig().batch_size]:
        train = TrainConfig(batch_size=batch_size)
        steps = prepared["train_rows"] // batch_size  # one epoch, the last partial batch dropped
        hp = {**dataclasses.asdict(train), "train_steps": steps}
        for device in devices:
            for trainer in trainers:
                pairs = []  # (end-to-end, floor), taking turns
                for _ in range(args.repeat):
                    e2e = measure("e2e", trainer, device, work, prepared, hp)
                    if "skipped" in e2e:
                        break
                    floor = measure("floor", trainer, device, work, prepared, hp)
                    print(f"{trainer} {device} batch {batch_size}: end-to-end {e2e['seconds']:.1f} s, "
                          f"floor {floor['seconds']:.1f} s", file=sys.stderr, flush=True)
                    pairs.append((e2e, floor))
                if not pairs:
                    skipped.append(f"{trainer} on {device}: {e2e['skipped']}")
                    continue
                ratios = [f["seconds"] / e["seconds"] for e, f in pairs]  # floor time / end-to-end time
                e2e, floor = pairs[sorted(range(len(pairs)), key=ratios.__getitem__)[len(pairs) // 2]]
                results.append({"trainer": trainer, "device": device, "batch": batch_size,
                                "train_rows": prepared["train_rows"], "steps": e2e["steps"], "e2e": e2e,
                                "floor": floor, "ratios": ratios})
    if args.examples:
        print(f"\nTransform output {prepared['examples_dir']}: the {prepared['train_rows']:,}-row train split, one "
              "epoch; end-to-end here starts at the job given to the PyTorch runtime (no TFX executor here)")
    else:
        print(f"\n{prepared['rows']:,} rows through the front and Transform ({prepared['front_seconds']:.0f} s"
              f"{', prepared by an earlier run' if prepared['reused'] else ''}); each trainer: one epoch of the "
              f"{prepared['train_rows']:,}-row train split")
    print("\n".join(table(results)))
    if args.repeat > 1:
        print(f"\n--repeat {args.repeat}: each row is the pair (end-to-end, then floor) with the median ratio; "
              "every pair's ratio:")
        for r in results:
            print(f"  {r['trainer']} {r['device']} batch {r['batch']}: "
                  + ", ".join(f"{ratio:.2f}" for ratio in r["ratios"]))
    begin = "the job given to the PyTorch runtime" if args.examples else "the Trainer executor's call of run_fn"
    print(f"\nend-to-end: {begin} to the last optimizer step (torch: its process started ahead, as `tandem run` "
          "does; torch-cold: started by run_fn); seconds by part:")
    for r in results:
        print(f"  {r['trainer']} {r['device']} batch {r['batch']}: "
              + ", ".join(f"{k} {v:.1f}" for k, v in r["e2e"]["parts"].items()))
    for line in skipped:
        print(f"  skipped: {line}")
    print(f"\nmachine: {os.cpu_count()} cores, {gpu or 'no GPU'}; load average (1 min) {load:.1f} before the "
          f"measurements, {os.getloadavg()[0]:.1f} after (other work on the machine slows both columns)")


if __name__ == "__main__":
    main()
