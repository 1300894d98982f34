"""The comparison report's plots (PNG, matplotlib's Agg backend): quality, calibration,
metrics by slice, latency; the two branches side by side in their own colours."""

import os

import numpy as np

from pipelines.branches import BRANCHES
from reporting.score import BATCH_SIZES

QUALITY = (("auc", "AUC"), ("binary_accuracy", "accuracy"), ("binary_crossentropy", "log loss"),
           ("precision", "precision"), ("recall", "recall"))
COLORS = {"keras": "#ff8f00", "torch": "#5c6bc0"}
WIDTH = 0.38  # of one branch's bar


def plots(report: dict, out_dir: str) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = {}
    names = {key: b.title for key, b in BRANCHES.items()}

    def save(fig, name):
        paths[name] = os.path.join(out_dir, f"{name}.png")
        fig.tight_layout()
        fig.savefig(paths[name], dpi=110)
        plt.close(fig)

    def bars(ax, labels, values_of):
        x = np.arange(len(labels))
        for i, key in enumerate(names):
            ax.bar(x + (i - 0.5) * WIDTH, values_of(key), WIDTH, label=names[key], color=COLORS[key])
        return x

    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = bars(ax, QUALITY, lambda key: [report[key]["overall"].get(metric, np.nan) for metric, _ in QUALITY])
    ax.set_xticks(x, [label for _, label in QUALITY])
    ax.set_ylim(0, 1)
    ax.set_title("Quality on the eval split")
    ax.legend()
    save(fig, "quality")

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    edges = np.linspace(0, 1, 11)
    for key in names:
        p, y = report[key]["probabilities"], report["labels"]
        which = np.clip(np.digitize(p, edges) - 1, 0, 9)
        filled = [b for b in range(10) if np.any(which == b)]
        ax.plot([p[which == b].mean() for b in filled], [y[which == b].mean() for b in filled], "o-",
                label=names[key], color=COLORS[key])
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
    ax.set_xlabel("predicted probability (bin mean)")
    ax.set_ylabel(f"observed rate of {report['dataset'].label.name}")
    ax.set_title("Calibration")
    ax.legend()
    save(fig, "calibration")

    for feature in sorted(set.intersection(*(set(report[key]["slices"]) for key in names))):
        values = sorted(report["keras"]["slices"][feature], key=lambda v: (isinstance(v, str), v))
        fig, axes = plt.subplots(2, 1, figsize=(7.5, 5), sharex=True)
        for ax, (metric, label) in zip(axes, (("auc", "AUC"), ("binary_accuracy", "accuracy")), strict=True):
            by_value = {key: report[key]["slices"][feature] for key in names}
            x = bars(ax, values, lambda key, by_value=by_value, metric=metric, values=values:
                     [by_value[key].get(v, {}).get(metric, np.nan) for v in values])
            ax.set_ylim(0, 1)
            ax.set_ylabel(label)
        axes[1].set_xticks(x, [str(v) for v in values], rotation=45 if len(values) > 8 else 0, fontsize=8)
        axes[0].set_title(f"By {feature} (a slice with one class has no AUC)")
        axes[0].legend(loc="upper center", bbox_to_anchor=(0.5, 1.32), ncol=2, frameon=False)
        save(fig, f"slice_{feature}")

    fig, ax = plt.subplots(figsize=(7, 3.2))
    labels = [f"batch {b} {q}" for b in BATCH_SIZES for q in ("p50", "p99")]
    x = bars(ax, labels, lambda key: [report[key]["latency"][str(b)][f"{q}_ms"]
                                      for b in BATCH_SIZES for q in ("p50", "p99")])
    ax.set_xticks(x, labels)
    ax.set_ylabel("ms")
    ax.set_title("Inference latency (model call, raw rows in)")
    ax.legend()
    save(fig, "latency")
    return paths
