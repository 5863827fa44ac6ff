"""Bar chart of the per-source comparison: each tool next to our model on the same sentences."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

SourceAccuracy = Mapping[str, Mapping[str, tuple[float, float]]]
"""``{source label: {tool: (the tool's accuracy, ours on the same sentences)}}``."""


def plot_source_accuracy(accuracy: SourceAccuracy, path: Path, title: str) -> Path:
    """Write a grouped bar chart to ``path``: one group per source label, two bars per tool
    (the tool's accuracy, hatched, and ours on that tool's languages, solid)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tools = list(dict.fromkeys(tool for pairs in accuracy.values() for tool in pairs))
    width = 0.8 / max(1, 2 * len(tools))
    colours = plt.get_cmap("tab10").colors
    figure, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(accuracy) * max(1, len(tools))), 4.0))
    for t, tool in enumerate(tools):
        bars = ((tool, "//", 0.45), (f"ours on {tool}'s languages", None, 1.0))
        for k, (label, hatch, alpha) in enumerate(bars):
            xs = [g - 0.4 + (2 * t + k + 0.5) * width for g in range(len(accuracy))]
            values = [pairs[tool][k] if tool in pairs else math.nan for pairs in accuracy.values()]
            ax.bar(
                xs,
                values,
                width,
                label=label,
                color=colours[t % len(colours)],
                hatch=hatch,
                alpha=alpha,
                edgecolor="black",
                linewidth=0.4,
            )
    ax.set_xticks(range(len(accuracy)), list(accuracy), fontsize=8)
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=2 * len(tools), loc="upper center", bbox_to_anchor=(0.5, -0.15))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path
