"""Pad-and-stack collate helpers for variable-length items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor


def pad_sequences(sequences: Sequence[Tensor], padding_value: float = 0.0) -> tuple[Tensor, Tensor]:
    """Pad tensors of shapes ``(T_b, *F)`` along their first dim.

    Returns:
        padded: ``(B, T_max, *F)``, positions ``t >= T_b`` filled with ``padding_value``.
        lengths: ``(B,)`` int64 tensor of ``T_b``.
    """
    if not sequences:
        raise ValueError("pad_sequences needs at least one tensor")
    lengths = torch.tensor([s.shape[0] for s in sequences], dtype=torch.long)
    first = sequences[0]
    padded = first.new_full((len(sequences), int(lengths.max()), *first.shape[1:]), padding_value)
    for b, sequence in enumerate(sequences):
        padded[b, : sequence.shape[0]] = sequence
    return padded, lengths


def pad_collate(items: Sequence[Mapping[str, Any]], padded: Mapping[str, float]) -> dict[str, Any]:
    """Collate a list of dict items into one batch dict.

    Keys named in ``padded`` (key -> padding value) hold variable-length tensors
    ``(T_b, *F)``: they are padded to ``(B, T_max, *F)`` and their lengths ``(B,)`` are added
    as ``<key>_lengths``. Other tensor values are stacked; anything else (strings, paths, ids)
    becomes a list.
    """
    batch: dict[str, Any] = {}
    for key in items[0]:
        values = [item[key] for item in items]
        if key in padded:
            batch[key], batch[f"{key}_lengths"] = pad_sequences(values, padded[key])
        elif all(isinstance(v, Tensor) for v in values):
            batch[key] = torch.stack(values)
        else:
            batch[key] = values
    return batch
