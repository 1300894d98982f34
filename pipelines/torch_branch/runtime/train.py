"""PyTorch training, in a process of its own (it never shares one with TensorFlow).

    python -m pipelines.torch_branch.runtime.train --train-files PATTERN... --eval-files PATTERN... \
        --transform-dir DIR --dataset NAME --model-dir DIR --run-dir DIR --config JSON
    python -m pipelines.torch_branch.runtime.train --serve SOCKET

Reads the Transform's Parquet splits itself (pipelines/transformed_data.py: pyarrow, no
TensorFlow), in the canonical row order both trainers use. The network's one-hot widths and
the serving model's preprocessing come from the Transform output's analyzer results
(--transform-dir). Writes to --model-dir: model.pt (TorchScript ServingModel: raw rows ->
probability); to --run-dir: TensorBoard logs (torch/train, torch/validation, the tags Keras
uses) and training.json. Seeded and deterministic; CUDA when available. Adam updates as
Keras' does (`keras_adam_epsilon`), on the batches the Keras trainer draws.

--serve: started ahead of its job (pipelines/child.Spare: `tandem run` starts it with the run),
it imports PyTorch and TorchDynamo (which Adam imports on its first step: 3-4 s together on
the 2-core machine), starts pyarrow's Parquet reader, and then takes the arguments above from
the Trainer's run_fn.
"""

import sys
import types

# TensorBoard's switch for its TensorFlow-free build: with it, the summary writer uses
# TensorBoard's own stub instead of importing TensorFlow where it happens to be installed.
sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

# cuBLAS is deterministic only with a fixed workspace, set before CUDA starts (PyTorch's
# reproducibility notes); no effect on CPU.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

from components import datasets  # noqa: E402
from components import features as F  # noqa: E402
from components.analyzer_results import AnalyzerResults  # noqa: E402
from pipelines.child import serve  # noqa: E402
from pipelines.torch_branch.runtime import MODEL_FILE  # noqa: E402
from pipelines.torch_branch.runtime.model import Net, ServingModel  # noqa: E402
from pipelines.torch_branch.runtime.preprocessing import Preprocessor, preprocessing_spec  # noqa: E402
from pipelines.training import ADAM_BETAS, batches, canonical_order, log_points, write_training_report  # noqa: E402
from pipelines.transformed_data import load_split, read_split, warm_up  # noqa: E402


def keras_adam_epsilon(epsilon: float, step: int) -> float:
    """PyTorch's epsilon for optimizer step `step` (1-based) that makes its Adam update
    Keras' one. Keras adds epsilon to sqrt(v) before the bias correction (the Adam paper's
    epsilon-hat): lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps); PyTorch adds it
    after: lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). With eps / sqrt(1 - b2^t)
    the two are the same formula (early steps differ most: step 1 by a factor of ~32)."""
    return epsilon / (1.0 - ADAM_BETAS[1] ** step) ** 0.5


def layout(dataset, sizes: dict[str, int]) -> list[tuple[str, int]]:
    """Net's input: (transformed feature, one-hot width from the analyzer results' `sizes`;
    0 for a z-score), in the dataset's order."""
    return [(F.transformed_name(f.name), 0 if isinstance(f, F.Numeric) else sizes[f.name]) for f in dataset.features]


def network(dataset, sizes: dict[str, int], hp: dict, device) -> tuple[Net, torch.optim.Adam]:
    """tandem's network for `dataset` (one-hot widths: the analyzer results' `sizes`) on
    `device`, and its Adam."""
    net = Net(layout(dataset, sizes), list(hp["hidden_units"])).to(device)
    return net, torch.optim.Adam(net.parameters(), lr=hp["learning_rate"], betas=ADAM_BETAS, eps=hp["adam_epsilon"])


# One intra-op thread when a step's largest matrix (the batch's one-hot input: batch x Net's
# input width) has fewer elements than this. PyTorch runs an op that small on one thread
# anyway (its grain is 32,768 elements), but its other OpenMP threads spin between the ops:
# on the 2-core machine, the taxi network at batch 64 took the same wall time on two threads
# as on one, and twice the CPU, which `tandem run all` takes from the Keras trainer beside
# it (run all: 50.6 / 50.8 s -> 47.0 / 43.4 s, alternated). At batch 256 and up, two threads
# were faster. The same rows give the same model either way at batch 64.
ONE_THREAD_BELOW = 1 << 16


def cpu_threads(batch_size: int, input_width: int, default: int) -> int:
    """Intra-op threads for CPU training (`default`: PyTorch's, one per core)."""
    return 1 if batch_size * input_width < ONE_THREAD_BELOW else default


def use_cpu_threads(net: Net, batch_size: int, device) -> int | None:
    """On a CPU, set PyTorch's intra-op threads for training `net` at `batch_size` (see
    cpu_threads) and return them; elsewhere None, and nothing set."""
    if device.type != "cpu":
        return None
    torch.set_num_threads(cpu_threads(batch_size, net.input_width, torch.get_num_threads()))
    return torch.get_num_threads()


def optimizer_step(net, optimizer, features: dict, labels, index, step: int, epsilon: float) -> torch.Tensor:
    """One Adam update (`step`: 1-based) on the rows `index` of the in-memory split; the batch's loss."""
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        net({k: v[index] for k, v in features.items()}), labels[index])
    optimizer.zero_grad()
    loss.backward()
    for group in optimizer.param_groups:
        group["eps"] = keras_adam_epsilon(epsilon, step)
    optimizer.step()
    return loss


INDEX_CHUNK = 256  # steps whose batch indices reach the device in one copy


def device_batches(order: np.ndarray, batch_size: int, steps: int, seed: int, device):
    """training.batches of the split in the canonical `order` (its rows as read), as index
    tensors on `device` into the split as read: the rows Keras' batches hold, without
    reordering every column first (a gather of 0.3 s on 1e6 rows). A copy from pageable host
    memory waits for the GPU to empty its queue; one per step would idle the GPU between
    steps, so the indices travel INDEX_CHUNK steps at a time."""
    chunk = []
    for index in batches(len(order), batch_size, steps, seed):
        chunk.append(index)
        if len(chunk) == INDEX_CHUNK:
            yield from torch.from_numpy(order[np.stack(chunk)]).to(device)
            chunk = []
    if chunk:
        yield from torch.from_numpy(order[np.stack(chunk)]).to(device)


def on_device(columns: dict[str, np.ndarray], label: str, widths: dict[str, int], device) -> tuple[dict, torch.Tensor]:
    """A split's columns (transformed_data.read_split) on `device`. Its categorical indices must
    lie within their one-hot `widths`: Net's one-hot encoding does not check them (see
    model.py), so this does, once."""
    for name, width in widths.items():
        values = columns[name]
        if len(values) and (values.min() < 0 or values.max() >= width):
            raise ValueError(f"{name} has indices outside 0..{width - 1}, its one-hot width in the "
                             f"Transform's analyzer results (values {values.min()}..{values.max()})")
    # Columns as read lie in pyarrow's buffers, which numpy marks read-only, and PyTorch warns
    # that writing to a tensor on them is undefined. These are only read (gathered into
    # batches), so they are used where they lie: a copy cost 0.16-0.2 s and the split's size
    # in memory (1.04e6 taxi rows, a process's first job).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The given NumPy array is not writable", UserWarning)
        tensors = {k: torch.from_numpy(v) for k, v in columns.items()}
    return {k: v.to(device) for k, v in tensors.items() if k != label}, tensors[label].to(device, torch.float32)


def eval_loss(net, features, labels, batch_size=4096) -> float:
    net.eval()
    with torch.no_grad():
        total = sum(float(torch.nn.functional.binary_cross_entropy_with_logits(
            net({k: v[i:i + batch_size] for k, v in features.items()}), labels[i:i + batch_size], reduction="sum"))
            for i in range(0, len(labels), batch_size))
    net.train()
    return total / max(1, len(labels))


def train(train_files: list[str], eval_files: list[str], transform_dir: str, dataset_name: str, model_dir: str,
          run_dir: str, hp: dict) -> dict:
    """Train and export; the training.json report. The splits are read in threads of their own
    while the network is built and TorchDynamo is imported (pyarrow and numpy leave the
    interpreter lock): the train split as read, with its canonical order (device_batches); the
    eval split in that order, as Keras sums its loss."""
    with ThreadPoolExecutor(2) as reader:
        train_split = reader.submit(_as_read_with_order, train_files)
        eval_split = reader.submit(load_split, eval_files)
        import torch._dynamo  # noqa: F401 - Adam's first step imports it (1-1.5 s): now, beside the reading

        return _train(lambda: (train_split.result(), eval_split.result()), transform_dir, dataset_name, model_dir,
                      run_dir, hp)


def _as_read_with_order(file_patterns: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    columns = read_split(file_patterns)
    return columns, canonical_order(columns)


def _train(splits, transform_dir: str, dataset_name: str, model_dir: str, run_dir: str, hp: dict) -> dict:
    torch.manual_seed(hp["seed"])
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dataset, results = datasets.load(dataset_name), AnalyzerResults.read(transform_dir)
    net, optimizer = network(dataset, results.size, hp, device)
    threads = use_cpu_threads(net, hp["batch_size"], device)
    label = dataset.label.name
    widths = {name: width for name, width in layout(dataset, results.size) if width}
    (train_columns, order), eval_columns = splits()
    train_x, train_y = on_device(train_columns, label, widths, device)
    eval_x, eval_y = on_device(eval_columns, label, widths, device)

    writers = {split: SummaryWriter(os.path.join(run_dir, "torch", split)) for split in ("train", "validation")}
    steps = hp["train_steps"]
    _, per_period = log_points(steps)
    period_loss = torch.zeros((), device=device)
    start = time.perf_counter()
    for step, index in enumerate(device_batches(order, hp["batch_size"], steps, hp["seed"], device), start=1):
        loss = optimizer_step(net, optimizer, train_x, train_y, index, step, hp["adam_epsilon"])
        period_loss += loss.detach()
        if step % per_period == 0:  # as Keras logs its epochs: the period's mean, then eval
            writers["train"].add_scalar("epoch_loss", float(period_loss) / per_period, step // per_period - 1)
            writers["validation"].add_scalar("epoch_loss", eval_loss(net, eval_x, eval_y), step // per_period - 1)
            period_loss.zero_()
    seconds = time.perf_counter() - start
    optimizer_steps = int(optimizer.state[next(net.parameters())]["step"]) if optimizer.state else 0
    for writer in writers.values():
        writer.close()

    serving = torch.jit.script(ServingModel(Preprocessor(preprocessing_spec(dataset, results)), net.cpu().eval(),
                                            dataset.contract()))
    os.makedirs(model_dir, exist_ok=True)
    serving.save(os.path.join(model_dir, MODEL_FILE))
    return write_training_report(run_dir, framework="torch", device=str(device), steps=steps,
                                 optimizer_steps=optimizer_steps, batch_size=hp["batch_size"], seconds=seconds,
                                 cpu_threads=threads,
                                 final_eval_loss=eval_loss(net, {k: v.cpu() for k, v in eval_x.items()}, eval_y.cpu()))


def parse(args: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name if __spec__ else __name__}",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-files", nargs="+", required=True, help="the Transform's Parquet train split")
    parser.add_argument("--eval-files", nargs="+", required=True, help="and its eval split")
    parser.add_argument("--transform-dir", required=True, help="the TransformGraph artifact's folder")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--run-dir", required=True, help="TensorBoard logs and training.json go here")
    parser.add_argument("--config", required=True, help="JSON: TrainConfig fields")
    return parser.parse_args(args)


def job(args: list[str]) -> str:
    """One training run from its arguments; the report, as JSON."""
    a = parse(args)
    return json.dumps(train(a.train_files, a.eval_files, a.transform_dir, a.dataset, a.model_dir, a.run_dir,
                            json.loads(a.config)))


def main():
    if sys.argv[1:2] == ["--serve"]:
        import torch._dynamo  # noqa: F401 - what Adam's first step would import: now, before the job

        warm_up()  # and pyarrow's start-up, which the job's first read would pay
        serve(sys.argv[2], job)
    else:
        print(job(sys.argv[1:]))


if __name__ == "__main__":
    main()
