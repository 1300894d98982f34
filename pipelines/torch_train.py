"""PyTorch training, run as its own process (it must never share one with TensorFlow).

    python -m pipelines.torch_train --data DIR --model-dir DIR --run-dir DIR --config JSON

Reads what the TF side exported (pipelines/torch_module.py): train.npz / eval.npz with
transformed features and labels, params.json with the Transform parameters. Writes to
--model-dir: model.pt (TorchScript ServingModel: raw rows -> probability) and
params.json; to --run-dir: TensorBoard logs (torch/) and training.json (wall time,
examples/s, final eval loss). Seeded; CPU by default, CUDA when available.
"""

# TensorFlow (pulled in by torch.utils.tensorboard when installed) and PyTorch's
# compiler stack (imported by the first optimizer step) abort together unless the
# latter is imported first: import it before anything can import TensorFlow.
import torch
import torch._dynamo  # noqa: F401,E402
import torch._inductor  # noqa: F401,E402

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from components import features as F  # noqa: E402  (plain Python, no TensorFlow)
from pipelines.torch_model import BigTipperNet, ServingModel  # noqa: E402
from pipelines.torch_preprocessing import Preprocessor  # noqa: E402


def load_split(path: str, device) -> tuple[dict, torch.Tensor]:
    with np.load(path) as data:
        features = {k: torch.from_numpy(data[k]).to(device) for k in data.files if k != F.LABEL}
        labels = torch.from_numpy(data[F.LABEL]).to(device=device, dtype=torch.float32)
    return features, labels


def batches(n: int, batch_size: int, steps: int, generator: torch.Generator):
    """Index tensors for `steps` batches over shuffled epochs (no per-row Python)."""
    done, order = 0, torch.randperm(n, generator=generator)
    position = 0
    while done < steps:
        if position + batch_size > n:
            order, position = torch.randperm(n, generator=generator), 0
        yield order[position:position + batch_size]
        position += batch_size
        done += 1


def evaluate(net, features, labels, batch_size=4096) -> float:
    net.eval()
    with torch.no_grad():
        losses = []
        for start in range(0, len(labels), batch_size):
            part = {k: v[start:start + batch_size] for k, v in features.items()}
            logits = net(part)
            losses.append(torch.nn.functional.binary_cross_entropy_with_logits(
                logits, labels[start:start + batch_size], reduction="sum"))
    net.train()
    return float(torch.stack(losses).sum() / max(1, len(labels)))


def train(data_dir: str, model_dir: str, run_dir: str, cfg: dict) -> dict:
    torch.manual_seed(cfg["seed"])
    np.random.seed(cfg["seed"])
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with open(os.path.join(data_dir, "params.json")) as f:
        params = json.load(f)
    train_x, train_y = load_split(os.path.join(data_dir, "train.npz"), device)
    eval_x, eval_y = load_split(os.path.join(data_dir, "eval.npz"), device)

    preprocessor = Preprocessor(params)
    numeric = [F.transformed_name(f.name) for f in F.NUMERIC]
    net = BigTipperNet(numeric, preprocessor.sizes(), list(cfg["hidden_units"])).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg["learning_rate"])
    generator = torch.Generator().manual_seed(cfg["seed"])

    from torch.utils.tensorboard import SummaryWriter  # after torch._dynamo: see the top
    writer = SummaryWriter(os.path.join(run_dir, "torch"))
    steps, log_every = cfg["train_steps"], max(1, cfg["train_steps"] // 10)
    start = time.perf_counter()
    for step, index in enumerate(batches(len(train_y), cfg["batch_size"], steps, generator), start=1):
        logits = net({k: v[index] for k, v in train_x.items()})
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, train_y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % log_every == 0 or step == steps:
            writer.add_scalar("loss/train", loss.item(), step)
            writer.add_scalar("loss/eval", evaluate(net, eval_x, eval_y), step)
    seconds = time.perf_counter() - start
    writer.close()

    serving = torch.jit.script(ServingModel(preprocessor, net.cpu().eval()))
    os.makedirs(model_dir, exist_ok=True)
    serving.save(os.path.join(model_dir, "model.pt"))
    shutil.copyfile(os.path.join(data_dir, "params.json"), os.path.join(model_dir, "params.json"))
    metrics = {
        "device": str(device),
        "train_steps": steps,
        "train_seconds": seconds,
        "examples_per_second": steps * cfg["batch_size"] / seconds if seconds else None,
        "final_eval_loss": evaluate(net, {k: v.cpu() for k, v in eval_x.items()}, eval_y.cpu()),
    }
    with open(os.path.join(run_dir, "training.json"), "w") as f:  # where the Keras trainer writes its own
        json.dump(metrics, f, indent=1)
    return metrics


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--run-dir", required=True, help="TensorBoard logs and training.json go here")
    parser.add_argument("--config", required=True, help="JSON: TrainConfig fields")
    args = parser.parse_args()
    metrics = train(args.data, args.model_dir, args.run_dir, json.loads(args.config))
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
