"""Time subsampling of feature frames before an audio encoder: ``(B, T, F) -> (B, T', F')``.

Every stage returns the subsampled lengths with the frames, so padded batches compute what
each utterance alone would. Shared by the speech recogniser and spoken language ID.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _ceil_div(lengths: Tensor, factor: int) -> Tensor:
    return torch.div(lengths + factor - 1, factor, rounding_mode="floor")


def stack_frames(x: Tensor, lengths: Tensor, factor: int) -> tuple[Tensor, Tensor]:
    """``(B, T, F) -> (B, ceil(T/k), k*F)``: frame ``t`` holds input frames ``kt..kt+k-1``
    (the tail zero-padded); ``lengths' = ceil(lengths / k)``."""
    batch, time, feats = x.shape
    pad = (-time) % factor
    if pad:
        x = F.pad(x, (0, 0, 0, pad))
    x = x.reshape(batch, (time + pad) // factor, factor * feats)
    return x, _ceil_div(lengths, factor)


class FrameStacking(nn.Module):
    """:func:`stack_frames` as a subsampling stage. Causal and chunk-aligned: output frame
    ``t`` depends on input frames ``kt..kt+k-1`` only."""

    def __init__(self, input_size: int, factor: int) -> None:
        super().__init__()
        self.factor = factor
        self.output_size = input_size * factor

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        return stack_frames(x, lengths, self.factor)


class ConvSubsampling(nn.Module):
    """Stride-2 ``3x3`` Conv2d + ReLU stages over (time, frequency): ``factor`` 2 or 4.

    Each stage: ``y = relu(conv(x))``, then frames past ``ceil(length / 2)`` are zeroed.

    ``(B, T, F) -> (B, T', C * F')`` with ``T' = ceil(T / factor)`` and ``F' = ceil(F / factor)``
    (each stage: ``n -> floor((n + 2 - 3) / 2) + 1 = ceil(n / 2)``).
    """

    def __init__(self, input_size: int, factor: int, channels: int) -> None:
        super().__init__()
        if factor not in (2, 4):
            raise ValueError(f"conv subsampling factor must be 2 or 4, got {factor}")
        stages = 1 if factor == 2 else 2
        self.convs = nn.ModuleList()
        in_ch, freq = 1, input_size
        for _ in range(stages):
            self.convs.append(nn.Conv2d(in_ch, channels, 3, stride=2, padding=1))
            in_ch, freq = channels, (freq + 1) // 2
        self.factor = factor
        self.output_size = channels * freq

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        y = x.unsqueeze(1)  # (B, 1, T, F)
        for conv in self.convs:
            y, lengths = torch.relu(conv(y)), _ceil_div(lengths, 2)
            # zero the frames past each length, so a padded batch computes what each
            # utterance alone would (the next stage reads one frame past the end)
            valid = torch.arange(y.shape[2], device=y.device) < lengths[:, None]
            y = y * valid[:, None, :, None]
        return y.permute(0, 2, 1, 3).flatten(2), lengths  # (B, T', C*F')


def build_subsampling(kind: str, input_size: int, factor: int, channels: int) -> nn.Module:
    """``kind``: ``conv`` (:class:`ConvSubsampling`), ``stack`` (:class:`FrameStacking`) or
    ``none`` (factor must be 1)."""
    if kind == "conv":
        return ConvSubsampling(input_size, factor, channels)
    if kind == "stack":
        return FrameStacking(input_size, factor)
    if kind == "none" and factor == 1:
        return FrameStacking(input_size, 1)
    raise ValueError(f"unknown subsampling {kind!r} with factor {factor} (conv, stack or none)")
