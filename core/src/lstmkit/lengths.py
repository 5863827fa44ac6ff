"""Variable-length batches: masks, per-sequence reversal and packing for torch's kernel.

All helpers work on time-major tensors ``(T, B, ...)``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence


def lengths_to_mask(lengths: Tensor, max_length: int) -> Tensor:
    """``(B,)`` lengths -> ``(T, B)`` mask, 1 at real steps and 0 at padding."""
    steps = torch.arange(max_length, device=lengths.device).unsqueeze(1)
    return (steps < lengths.unsqueeze(0)).to(torch.uint8)


def reverse_within_lengths(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of ``x`` ``(T, B, F)`` within its own length.

    Step ``t < L_b`` of sequence ``b`` goes to ``L_b - 1 - t``; padding stays where it is.
    The map is its own inverse, so the same call undoes it. Without lengths every
    sequence is ``T`` long and this is a flip along time.
    """
    if lengths is None:
        return x.flip(0)
    steps = torch.arange(x.shape[0], device=x.device).unsqueeze(1)
    lengths = lengths.to(x.device).unsqueeze(0)
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)
    return x.gather(0, index.unsqueeze(-1).expand_as(x))


def pack(x: Tensor, lengths: Tensor) -> PackedSequence:
    """Pack a time-major padded batch ``(T, B, F)``; sequences need not be sorted."""
    return pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)


def unpack(packed: PackedSequence, total_length: int) -> Tensor:
    """Inverse of :func:`pack`: ``(T, B, F)`` in the original batch order, zeros at padding."""
    return pad_packed_sequence(packed, total_length=total_length)[0]
