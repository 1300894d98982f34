"""The comparison report as Markdown (comparison.md, plots beside it) and as one
self-contained HTML page (comparison.html, plots inlined)."""

import base64
import html as escape
import os

from pipelines.branches import BRANCHES
from reporting.plots import QUALITY, plots
from reporting.score import BATCH_SIZES, LATENCY_RUNS


def markdown(report: dict, images: dict[str, str]) -> str:
    keras, torch = (BRANCHES[k].title for k in ("keras", "torch"))

    def row(label, a, b):
        return f"| {label} | {a} | {b} |"

    def metric(key, name):
        value = report[key]["overall"].get(name)
        return "n/a" if value is None else f"{value:.4f}"

    def training(name, fmt):
        values = [report[key]["training"].get(name) for key in ("keras", "torch")]
        return ["n/a" if v is None else fmt.format(v) for v in values]

    def image(name):
        return f"![{name}]({os.path.basename(images[name])})"

    dataset = report["dataset"]
    lines = [f"# tandem: {keras} vs. {torch}", "", f"Data: {dataset.title} (dataset `{dataset.name}`).", "",
             f"Hardware: {report['hardware']}.", "",
             "Compared: each branch's latest blessed model — "
             + "; ".join(f"{BRANCHES[key].title}: model {c['model_id']} of run {c['run']}"
                         + (f", pushed as version {c['pushed_version']}" if c["pushed_version"] else ", not pushed")
                         for key, c in report["compared"].items()) + ".", "",
             "Both models were trained on the same transformed examples from one validated front, and are "
             "scored here on the same raw eval rows"
             + (" (the same ExampleGen output)." if report["same_eval_data"] else
                " — **warning: their latest evaluations used different ExampleGen outputs**."), "",
             "## Quality (eval split)", "", f"| metric | {keras} | {torch} |", "|---|---|---|"]
    lines += [row(label, metric("keras", name), metric("torch", name)) for name, label in QUALITY]
    count = {key: f"{report[key]['overall'].get('example_count', 0):,.0f}" for key in BRANCHES}
    lines += [row("examples", count["keras"], count["torch"]), "", image("quality"), "",
              "## Calibration", "", image("calibration"), "", "## Metrics by slice", ""]
    lines += [line for name in images if name.startswith("slice_") for line in (image(name), "")]
    lines += ["## Training", "", f"| | {keras} | {torch} |", "|---|---|---|",
              row("device", *training("device", "{}")),
              row("steps", *training("train_steps", "{}")),
              row("batch", *training("batch_size", "{}")),
              row("wall time (s)", *training("train_seconds", "{:.2f}")),
              row("examples/s", *training("examples_per_second", "{:,.0f}")),
              row("final eval loss", *training("final_eval_loss", "{:.4f}")), "",
              "## Model size on disk", "", f"| | {keras} | {torch} |", "|---|---|---|",
              row("served model",
                  f"{report['keras']['model_bytes'] / 1e6:.2f} MB (SavedModel with the Transform graph)",
                  f"{report['torch']['model_bytes'] / 1e6:.2f} MB (TorchScript with the Transform parameters)"), "",
              "## Inference latency", "",
              "Each framework in its own process, the model called in-process on raw rows "
              f"({LATENCY_RUNS} timed calls after 20 warm-up calls; no server in between).", "",
              f"| | {keras} p50 | p99 | {torch} p50 | p99 |", "|---|---|---|---|---|"]
    for b in BATCH_SIZES:
        t, p = report["keras"]["latency"][str(b)], report["torch"]["latency"][str(b)]
        lines.append(f"| batch {b} | {t['p50_ms']:.2f} ms | {t['p99_ms']:.2f} ms | {p['p50_ms']:.2f} ms "
                     f"| {p['p99_ms']:.2f} ms |")
    lines += ["", image("latency"), "", "## Agreement", "",
              f"The two models make the same decision (probability > 0.5) on {report['agreement']:.1%} of the "
              f"{len(report['labels']):,} eval rows; their probabilities differ by {report['mean_abs_difference']:.4f} "
              "on average.", ""]
    return "\n".join(lines)


def html_page(text: str, images: dict[str, str]) -> str:
    """The same content as one self-contained page: tables and headings, plots inlined."""
    body, table = [], []

    def flush():
        if table:
            cells = [[c.strip() for c in line.strip("|").split("|")] for line in table if not set(line) <= set("|-")]
            body.append("<table>" + "".join(
                "<tr>" + "".join(f"<{'th' if i == 0 else 'td'}>{escape.escape(c)}</{'th' if i == 0 else 'td'}>"
                                 for c in row) + "</tr>" for i, row in enumerate(cells)) + "</table>")
            table.clear()

    files = {os.path.basename(p): p for p in images.values()}
    for line in text.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{escape.escape(line.lstrip('# '))}</h{level}>")
        elif line.startswith("!["):
            name = line[line.index("(") + 1:-1]
            with open(files[name], "rb") as f:
                data = base64.b64encode(f.read()).decode()
            body.append(f'<img alt="{escape.escape(name)}" src="data:image/png;base64,{data}">')
        elif line:
            body.append(f"<p>{escape.escape(line).replace('**', '')}</p>")
    flush()
    style = ("body{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px}"
             "th{background:#f4f4f4}img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>tandem comparison</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def write_report(report: dict, out_dir: str) -> tuple[str, str]:
    os.makedirs(out_dir, exist_ok=True)
    images = plots(report, out_dir)
    text = markdown(report, images)
    md_path, html_path = os.path.join(out_dir, "comparison.md"), os.path.join(out_dir, "comparison.html")
    with open(md_path, "w") as f:
        f.write(text)
    with open(html_path, "w") as f:
        f.write(html_page(text, images))
    return md_path, html_path
