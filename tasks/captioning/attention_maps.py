"""Attention-map figure: the image, then one panel per generated word with its attention overlaid."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def upsample_attention(
    weights: torch.Tensor, grid: tuple[int, int], size: tuple[int, int]
) -> np.ndarray:
    """(L, S) weights on an (h, w) grid -> (L, H, W) maps, bilinearly upsampled, each in [0, 1]."""
    maps = weights.detach().float().reshape(-1, 1, *grid)
    maps = F.interpolate(maps, size=size, mode="bilinear", align_corners=False)[:, 0]
    peak = maps.flatten(1).amax(dim=1).clamp(min=1e-12)
    return (maps / peak[:, None, None]).cpu().numpy()


def save_attention_figure(
    image: Image.Image,
    words: Sequence[str],
    weights: torch.Tensor,
    grid: tuple[int, int],
    path: str | Path,
    columns: int = 5,
) -> Path:
    """Write a PNG with the image and one panel per word (title = word, overlay = attention).

    Args:
        image: the captioned image (any size; shown as given).
        words: the caption's words, one per row of ``weights``.
        weights: (L, S) attention used to emit each word, S = h * w.
        grid: (h, w) of the encoder's feature grid.
        path: output PNG.
    """
    if weights.shape[0] != len(words):
        raise ValueError(f"{len(words)} words but {weights.shape[0]} attention rows")
    maps = upsample_attention(weights, grid, (image.height, image.width))
    panels = len(words) + 1
    cols = min(columns, panels)
    rows = math.ceil(panels / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes.flat[0].imshow(image)
    axes.flat[0].set_title(" ".join(words), fontsize=7, wrap=True)
    for ax, word, heat in zip(axes.flat[1:], words, maps, strict=False):
        ax.imshow(image)
        ax.imshow(heat, cmap="jet", alpha=0.5, vmin=0.0, vmax=1.0)
        ax.set_title(word, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
