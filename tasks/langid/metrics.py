"""Classification scores from a confusion matrix, shared by the module and the compare script.

``C[i, j]`` counts items of true class ``i`` predicted as ``j``. Per class:
``precision_j = C[j, j] / sum_i C[i, j]``, ``recall_i = C[i, i] / sum_j C[i, j]``,
``F1 = 2 P R / (P + R)``. Accuracy is ``trace(C) / sum(C)``; macro-F1 averages F1 over the
classes that occur in the reference (a class never seen in the test data cannot be scored).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor


def confusion_matrix(truth: Sequence[int], predicted: Sequence[int], n_classes: int) -> Tensor:
    """``(n_classes, n_classes + 1)`` int64 counts; the last column counts predictions ``-1``
    (no answer, e.g. a language the tool does not know), which score as wrong."""
    matrix = torch.zeros(n_classes, n_classes + 1, dtype=torch.long)
    t = torch.as_tensor(list(truth), dtype=torch.long)
    p = torch.as_tensor(list(predicted), dtype=torch.long)
    p = torch.where(p < 0, torch.full_like(p, n_classes), p)
    matrix.index_put_((t, p), torch.ones_like(t), accumulate=True)
    return matrix


def per_class_scores(matrix: Tensor) -> dict[str, Tensor]:
    """Precision, recall, F1 and support per class of a ``(K, K)`` or ``(K, K+1)`` matrix
    (the optional last column counts abstentions)."""
    matrix = matrix.double()
    k = matrix.shape[0]
    tp = matrix[:, :k].diagonal()
    support = matrix.sum(1)
    predicted = matrix[:, :k].sum(0)
    precision = torch.where(predicted > 0, tp / predicted.clamp_min(1), torch.zeros_like(tp))
    recall = torch.where(support > 0, tp / support.clamp_min(1), torch.zeros_like(tp))
    f1 = torch.where(
        precision + recall > 0,
        2 * precision * recall / (precision + recall).clamp_min(1e-12),
        torch.zeros_like(tp),
    )
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def summary_scores(matrix: Tensor) -> dict[str, float]:
    """``{"acc", "macro_f1", "n"}`` of a confusion matrix."""
    k = matrix.shape[0]
    total = int(matrix.sum())
    scores = per_class_scores(matrix)
    present = scores["support"] > 0
    correct = float(matrix[:, :k].diagonal().sum())
    return {
        "acc": correct / total if total else 0.0,
        "macro_f1": float(scores["f1"][present].mean()) if bool(present.any()) else 0.0,
        "n": float(total),
    }


def per_language_markdown(matrix: Tensor, labels: Sequence[str]) -> str:
    """Markdown table: language, support, precision, recall, F1 (classes with support)."""
    scores = per_class_scores(matrix)
    lines = ["| language | support | precision | recall | F1 |", "|---|---:|---:|---:|---:|"]
    for i, label in enumerate(labels):
        if scores["support"][i] > 0:
            lines.append(
                f"| {label} | {int(scores['support'][i])} | {scores['precision'][i]:.3f} "
                f"| {scores['recall'][i]:.3f} | {scores['f1'][i]:.3f} |"
            )
    return "\n".join(lines) + "\n"


def plot_confusion(matrix: Tensor, labels: Sequence[str], path: Path, title: str) -> Path:
    """Row-normalised confusion matrix heat map (recall on the diagonal) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(labels)
    counts = matrix[:, :k].double()
    normalised = counts / counts.sum(1, keepdim=True).clamp_min(1)
    size = max(6.0, 0.16 * k + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(normalised.numpy(), cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(k), labels, rotation=90, fontsize=6)
    ax.set_yticks(range(k), labels, fontsize=6)
    ax.set_xlabel("predicted language")
    ax.set_ylabel("true language")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.04, label="share of the true language's items")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
