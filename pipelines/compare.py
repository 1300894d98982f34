"""`tandem compare`: the Keras and the PyTorch model side by side, from their latest runs.

Writes <out>/comparison.md (with PNG plots beside it) and a self-contained
<out>/comparison.html (the same, plots inlined). Sections: quality (AUC, accuracy, log
loss, precision, recall), calibration, metrics by slice, training wall time and
examples/s, model size on disk, inference latency p50/p99 at batch 1 and 64, how often
the two models agree, and the hardware it ran on.

Both models are scored on the same raw eval rows (the ones TorchEvaluator saved), each
framework in its own process: TensorFlow and PyTorch never share one (see
pipelines/torch_train.py), and latency is measured without the other's threads around.
This module imports neither at top level, so those worker processes load only their own.
"""

import base64
import glob
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

BATCH_SIZES = (1, 64)


class NoRunError(LookupError):
    """The metadata store has no finished run of a branch to compare."""

LATENCY_RUNS = 200  # timed calls per batch size, after 20 warm-up calls


# ------------------------------------------------------------ worker processes
def score_and_time(framework: str, model_path: str, rows_path: str, out_path: str) -> None:
    """In a fresh process: predict every row, then time batches of 1 and 64 rows."""
    with np.load(rows_path) as data:
        rows = {k: data[k] for k in data.files}
    if framework == "tf":
        import tensorflow as tf

        from components import features as F

        serving = tf.saved_model.load(model_path).signatures["serving_default"]

        def prepare(batch):
            return {k: tf.constant(v.astype(str) if F.RAW_DTYPES[k] == F.STRING else v.astype(np.float64))
                    for k, v in batch.items()}

        def call(inputs):
            return serving(**inputs)["probability"].numpy()
    else:
        import torch

        from pipelines.torch_predict import as_inputs

        model = torch.jit.load(model_path)

        def prepare(batch):
            numbers, strings, _ = as_inputs(batch)
            return numbers, strings

        def call(inputs):
            with torch.no_grad():
                return model(*inputs).numpy()

    n = len(next(iter(rows.values())))
    probabilities = np.concatenate(
        [call(prepare({k: v[i:i + 4096] for k, v in rows.items()})) for i in range(0, n, 4096)])
    latency = {}
    for size in BATCH_SIZES:
        inputs = prepare({k: v[:size] for k, v in rows.items()})  # time the model call alone
        for _ in range(20):
            call(inputs)
        times = []
        for _ in range(LATENCY_RUNS):
            start = time.perf_counter()
            call(inputs)
            times.append((time.perf_counter() - start) * 1000)
        latency[str(size)] = {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99))}
    np.save(out_path + ".npy", probabilities.astype(np.float32))
    with open(out_path + ".json", "w") as f:
        json.dump(latency, f)


# ------------------------------------------------------------ reading the runs
def _latest_outputs(metadata_path: str, component: str) -> dict:
    """Output and input artifacts (by key) of the latest execution of `component`."""
    from ml_metadata.proto import metadata_store_pb2

    from pipelines.summary import open_metadata_store

    store = open_metadata_store(metadata_path)
    nodes = [c for c in store.get_contexts_by_type("node") if c.name.endswith("." + component)]
    executions = [e for c in nodes for e in store.get_executions_by_context(c.id)
                  if e.last_known_state in (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)]
    if not executions:
        raise NoRunError(f"no finished {component} run in {metadata_path}: run `tandem run all` first")
    latest = max(executions, key=lambda e: (e.create_time_since_epoch, e.id))
    found = {}
    for event in store.get_events_by_execution_ids([latest.id]):
        (artifact,) = store.get_artifacts_by_id([event.artifact_id])
        for step in event.path.steps:  # one event names every key an artifact came in by
            if step.HasField("key"):
                found.setdefault(step.key, artifact)
    return found


def _size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def _hardware(torch_device: str) -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM; {platform.platform()}; "
            f"Python {platform.python_version()}; PyTorch trained on: {torch_device}")


def collect(home: str, work: str) -> dict:
    from pipelines.summary import candidate_metrics  # TFMA: here, not in the worker processes

    metadata = os.path.join(home, "metadata", "tandem.sqlite")
    if not os.path.exists(metadata):
        raise NoRunError(f"no metadata store at {metadata}: run `tandem run all` first")
    report = {}
    keras_eval, torch_eval = _latest_outputs(metadata, "KerasEvaluator"), _latest_outputs(metadata, "TorchEvaluator")
    report["same_eval_data"] = keras_eval["examples"].id == torch_eval["examples"].id
    prediction_dir = os.path.join(torch_eval["evaluation_result"].uri, "predictions")
    rows, labels = os.path.join(prediction_dir, "rows.npz"), np.load(os.path.join(prediction_dir, "labels.npy"))
    # framework -> (its evaluator's artifacts, the evaluation's key, the served model inside the Model artifact)
    branches = {"tf": (keras_eval, "evaluation", "Format-Serving"),
                "torch": (torch_eval, "evaluation_result", os.path.join("Format-Serving", "model.pt"))}
    for framework, (outputs, evaluation_key, served) in branches.items():
        overall, slices = candidate_metrics(outputs[evaluation_key].uri)
        model_uri = outputs["model"].uri  # <root>/<Trainer>/model/<execution id>; model_run/<id> beside it
        model_path = os.path.join(model_uri, served)
        training_file = os.path.join(os.path.dirname(os.path.dirname(model_uri)), "model_run",
                                     os.path.basename(model_uri), "training.json")
        training = json.load(open(training_file)) if os.path.exists(training_file) else {}
        out = os.path.join(work, framework)
        worker = subprocess.run([sys.executable, "-m", "pipelines.compare", framework, model_path, rows, out],
                                capture_output=True, text=True)
        if worker.returncode != 0:
            raise RuntimeError(f"scoring the {framework} model failed: {worker.stderr.strip()[-1500:]}")
        report[framework] = {
            "overall": overall, "slices": slices, "training": training,
            "model_path": model_path, "model_bytes": _size(model_path),
            "latency": json.load(open(out + ".json")), "probabilities": np.load(out + ".npy"),
        }
    report["labels"] = labels
    tf_p, torch_p = report["tf"]["probabilities"], report["torch"]["probabilities"]
    report["agreement"] = float(np.mean((tf_p > 0.5) == (torch_p > 0.5)))
    report["mean_abs_difference"] = float(np.mean(np.abs(tf_p - torch_p)))
    report["hardware"] = _hardware(report["torch"]["training"].get("device", "unknown"))
    return report


# ------------------------------------------------------------ the report
QUALITY = (("auc", "AUC", True), ("binary_accuracy", "accuracy", True), ("binary_crossentropy", "log loss", False),
           ("precision", "precision", True), ("recall", "recall", True))
NAMES = {"tf": "TFX / Keras", "torch": "PyTorch"}
COLORS = {"tf": "#ff8f00", "torch": "#5c6bc0"}


def _plots(report: dict, out_dir: str) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = {}

    def save(fig, name):
        paths[name] = os.path.join(out_dir, f"{name}.png")
        fig.tight_layout()
        fig.savefig(paths[name], dpi=110)
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = np.arange(len(QUALITY))
    for i, fw in enumerate(NAMES):
        values = [report[fw]["overall"].get(key, np.nan) for key, _, _ in QUALITY]
        ax.bar(x + (i - 0.5) * 0.38, values, 0.38, label=NAMES[fw], color=COLORS[fw])
    ax.set_xticks(x, [label for _, label, _ in QUALITY])
    ax.set_ylim(0, 1)
    ax.set_title("Quality on the eval split")
    ax.legend()
    save(fig, "quality")

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    bins = np.linspace(0, 1, 11)
    for fw in NAMES:
        p, y = report[fw]["probabilities"], report["labels"]
        which = np.clip(np.digitize(p, bins) - 1, 0, 9)
        filled = [b for b in range(10) if np.any(which == b)]
        ax.plot([p[which == b].mean() for b in filled], [y[which == b].mean() for b in filled], "o-",
                label=NAMES[fw], color=COLORS[fw])
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
    ax.set_xlabel("predicted probability (bin mean)")
    ax.set_ylabel("observed big-tipper rate")
    ax.set_title("Calibration")
    ax.legend()
    save(fig, "calibration")

    for feature in sorted(set(report["tf"]["slices"]) & set(report["torch"]["slices"])):
        values = sorted(report["tf"]["slices"][feature], key=lambda v: (isinstance(v, str), v))
        x = np.arange(len(values))
        fig, axes = plt.subplots(2, 1, figsize=(7.5, 5), sharex=True)
        for ax, (key, label) in zip(axes, (("auc", "AUC"), ("binary_accuracy", "accuracy"))):
            for i, fw in enumerate(NAMES):
                ys = [report[fw]["slices"][feature].get(v, {}).get(key, np.nan) for v in values]
                ax.bar(x + (i - 0.5) * 0.38, ys, 0.38, label=NAMES[fw], color=COLORS[fw])
            ax.set_ylim(0, 1)
            ax.set_ylabel(label)
        axes[1].set_xticks(x, [str(v) for v in values], rotation=45 if len(values) > 8 else 0, fontsize=8)
        axes[0].set_title(f"By {feature} (a slice with one class has no AUC)")
        axes[0].legend(loc="upper center", bbox_to_anchor=(0.5, 1.32), ncol=2, frameon=False)
        save(fig, f"slice_{feature}")

    fig, ax = plt.subplots(figsize=(7, 3.2))
    labels = [f"batch {b} {q}" for b in BATCH_SIZES for q in ("p50", "p99")]
    x = np.arange(len(labels))
    for i, fw in enumerate(NAMES):
        values = [report[fw]["latency"][str(b)][f"{q}_ms"] for b in BATCH_SIZES for q in ("p50", "p99")]
        ax.bar(x + (i - 0.5) * 0.38, values, 0.38, label=NAMES[fw], color=COLORS[fw])
    ax.set_xticks(x, labels)
    ax.set_ylabel("ms")
    ax.set_title("Inference latency (model call, raw rows in)")
    ax.legend()
    save(fig, "latency")
    return paths


def _markdown(report: dict, plots: dict[str, str]) -> str:
    tf_, torch_ = report["tf"], report["torch"]

    def row(label, a, b):
        return f"| {label} | {a} | {b} |"

    def metric(fw, key):
        value = report[fw]["overall"].get(key)
        return "n/a" if value is None else f"{value:.4f}"

    def training(fw, key, fmt):
        value = report[fw]["training"].get(key)
        return "n/a" if value is None else fmt.format(value)

    lines = ["# tandem: TFX/Keras vs. PyTorch", "",
             f"Hardware: {report['hardware']}.", "",
             "Both models were trained on the same transformed examples from one validated front, and are "
             "scored here on the same raw eval rows"
             + (" (the same ExampleGen output)." if report["same_eval_data"] else
                " — **warning: their latest evaluations used different ExampleGen outputs**."), "",
             "## Quality (eval split)", "", "| metric | TFX / Keras | PyTorch |", "|---|---|---|"]
    lines += [row(label, metric("tf", key), metric("torch", key)) for key, label, _ in QUALITY]
    count = {fw: f"{report[fw]['overall'].get('example_count', 0):,.0f}" for fw in NAMES}
    lines += [row("examples", count["tf"], count["torch"]), "",
              f"![quality]({os.path.basename(plots['quality'])})", "",
              "## Calibration", "", f"![calibration]({os.path.basename(plots['calibration'])})", "",
              "## Metrics by slice", ""]
    for name, path in plots.items():
        if name.startswith("slice_"):
            lines += [f"![{name}]({os.path.basename(path)})", ""]
    lines += ["## Training", "", "| | TFX / Keras | PyTorch |", "|---|---|---|",
              row("device", training("tf", "device", "{}"), training("torch", "device", "{}")),
              row("steps", training("tf", "train_steps", "{}"), training("torch", "train_steps", "{}")),
              row("wall time (s)", training("tf", "train_seconds", "{:.2f}"), training("torch", "train_seconds", "{:.2f}")),
              row("examples/s", training("tf", "examples_per_second", "{:,.0f}"),
                  training("torch", "examples_per_second", "{:,.0f}")), "",
              "## Model size on disk", "", "| | TFX / Keras | PyTorch |", "|---|---|---|",
              row("served model", f"{tf_['model_bytes'] / 1e6:.2f} MB (SavedModel with the Transform graph)",
                  f"{torch_['model_bytes'] / 1e6:.2f} MB (TorchScript with the Transform parameters)"), "",
              "## Inference latency", "",
              "Each framework in its own process, the model called in-process on raw rows "
              f"({LATENCY_RUNS} timed calls after 20 warm-up calls; no server in between).", "",
              "| | TFX / Keras p50 | p99 | PyTorch p50 | p99 |", "|---|---|---|---|---|"]
    for b in BATCH_SIZES:
        t, p = tf_["latency"][str(b)], torch_["latency"][str(b)]
        lines.append(f"| batch {b} | {t['p50_ms']:.2f} ms | {t['p99_ms']:.2f} ms | {p['p50_ms']:.2f} ms | {p['p99_ms']:.2f} ms |")
    lines += ["", f"![latency]({os.path.basename(plots['latency'])})", "",
              "## Agreement", "",
              f"The two models make the same decision (probability > 0.5) on {report['agreement']:.1%} of the "
              f"{len(report['labels']):,} eval rows; their probabilities differ by {report['mean_abs_difference']:.4f} "
              "on average.", ""]
    return "\n".join(lines)


def write_report(report: dict, out_dir: str) -> tuple[str, str]:
    os.makedirs(out_dir, exist_ok=True)
    plots = _plots(report, out_dir)
    markdown = _markdown(report, plots)
    md_path = os.path.join(out_dir, "comparison.md")
    with open(md_path, "w") as f:
        f.write(markdown)
    html = _html(markdown, plots)
    html_path = os.path.join(out_dir, "comparison.html")
    with open(html_path, "w") as f:
        f.write(html)
    return md_path, html_path


def _html(markdown: str, plots: dict[str, str]) -> str:
    """The same content as one self-contained page: tables and headings, plots inlined."""
    import html as escape

    body, table = [], []

    def flush():
        if table:
            cells = [[c.strip() for c in line.strip("|").split("|")] for line in table if not set(line) <= set("|-")]
            body.append("<table>" + "".join(
                "<tr>" + "".join(f"<{'th' if i == 0 else 'td'}>{escape.escape(c)}</{'th' if i == 0 else 'td'}>"
                                 for c in row) + "</tr>" for i, row in enumerate(cells)) + "</table>")
            table.clear()

    images = {os.path.basename(p): p for p in plots.values()}
    for line in markdown.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{escape.escape(line.lstrip('# '))}</h{level}>")
        elif line.startswith("!["):
            name = line[line.index("(") + 1:-1]
            data = base64.b64encode(open(images[name], "rb").read()).decode()
            body.append(f'<img alt="{escape.escape(name)}" src="data:image/png;base64,{data}">')
        elif line:
            body.append(f"<p>{escape.escape(line).replace('**', '')}</p>")
    flush()
    style = ("body{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px}"
             "th{background:#f4f4f4}img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>tandem comparison</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def compare(home: str, out_dir: str) -> tuple[str, str]:
    work = os.path.join(out_dir, ".work")
    os.makedirs(work, exist_ok=True)
    return write_report(collect(home, work), out_dir)


def main():  # the worker: python -m pipelines.compare FRAMEWORK MODEL ROWS OUT
    framework, model_path, rows_path, out_path = sys.argv[1:5]
    score_and_time(framework, model_path, rows_path, out_path)


if __name__ == "__main__":
    main()
