"""Learning-curve figure drawn from the run's metrics CSV."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

METRICS_FILE = "metrics.csv"


def read_metric_curves(metrics_csv: Path) -> dict[str, list[tuple[int, float]]]:
    """``{metric: [(x, value), ...]}`` with x the step for ``*_step`` / ``lr-*`` columns and
    the epoch otherwise (Lightning's CSVLogger writes sparse rows)."""
    curves: dict[str, list[tuple[int, float]]] = defaultdict(list)
    with open(metrics_csv, newline="") as handle:
        for row in csv.DictReader(handle):
            for name, value in row.items():
                if name in ("epoch", "step") or not value:
                    continue
                per_step = name.endswith("_step") or name.startswith("lr-")
                x = row.get("step") if per_step else row.get("epoch")
                if x:
                    curves[name].append((int(float(x)), float(value)))
    return dict(curves)


def plot_learning_curves(run_dir: Path) -> Path | None:
    """Write ``<run_dir>/plots/learning_curves.png`` (one panel per metric); ``None`` when the
    run has no metrics CSV (e.g. ``fast_dev_run``)."""
    metrics_csv = Path(run_dir) / METRICS_FILE
    if not metrics_csv.is_file():
        return None
    curves = {k: v for k, v in read_metric_curves(metrics_csv).items() if not k.startswith("test/")}
    if not curves:
        return None
    columns = min(3, len(curves))
    rows = -(-len(curves) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
    for ax, (name, points) in zip(axes.flat, sorted(curves.items()), strict=False):
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="." if len(xs) < 30 else None)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step" if name.endswith("_step") or name.startswith("lr-") else "epoch")
    for ax in list(axes.flat)[len(curves) :]:
        ax.axis("off")
    figure.tight_layout()
    out = Path(run_dir) / "plots" / "learning_curves.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=90)
    plt.close(figure)
    return out
