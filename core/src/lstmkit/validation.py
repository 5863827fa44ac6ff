"""Argument checks shared by :class:`~lstmkit.LSTM` and :class:`~lstmkit.LSTMCell`.

Messages and exception types follow ``torch.nn.LSTM`` so that code written against it
(and its tests) sees the same errors.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor


def check_constructor_args(
    input_size: int,
    hidden_sizes: Sequence[int],
    num_layers: int,
    bias: bool,
    batch_first: bool,
    dropout: float,
    proj_size: int,
) -> None:
    """Validate ``nn.LSTM``'s constructor arguments (``hidden_sizes`` already per layer)."""
    if (
        not isinstance(dropout, numbers.Number)
        or not 0 <= dropout <= 1
        or isinstance(dropout, bool)
    ):
        raise ValueError(
            "dropout should be a number in range [0, 1] "
            "representing the probability of an element being zeroed"
        )
    if dropout > 0 and num_layers == 1:
        warnings.warn(
            "dropout option adds dropout after all but last recurrent layer, so non-zero "
            f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
            f"num_layers={num_layers}",
            stacklevel=3,
        )
    if not isinstance(bias, bool):
        raise TypeError(f"bias should be of type bool, got: {type(bias).__name__}")
    if not isinstance(batch_first, bool):
        raise TypeError(f"batch_first should be of type bool, got: {type(batch_first).__name__}")
    if not isinstance(input_size, int):
        raise TypeError(f"input_size should be of type int, got: {type(input_size).__name__}")
    if input_size <= 0:
        raise ValueError("input_size must be greater than zero")
    for hidden_size in hidden_sizes:
        if not isinstance(hidden_size, int) or isinstance(hidden_size, bool):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
    if num_layers <= 0:
        raise ValueError("num_layers must be greater than zero")
    if proj_size < 0:
        raise ValueError("proj_size should be a positive integer or zero to disable projections")
    if proj_size >= min(hidden_sizes):
        raise ValueError("proj_size has to be smaller than hidden_size")


def check_input(input: Tensor, weight: Tensor, input_size: int, packed: bool) -> None:
    """Check dtype, rank and feature size of the (padded or packed) input."""
    if input.dtype != weight.dtype and not torch._C._is_any_autocast_enabled():
        raise ValueError(
            f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight.dtype}). "
            f"Convert input: input.to({weight.dtype}), or convert model: model.to({input.dtype})"
        )
    expected_dim = 2 if packed else 3
    if input.dim() != expected_dim:
        raise RuntimeError(f"input must have {expected_dim} dimensions, got {input.dim()}")
    if input_size != input.size(-1):
        raise RuntimeError(
            "input.size(-1) must be equal to input_size. "
            f"Expected {input_size}, got {input.size(-1)}"
        )


def check_state_size(state: Tensor, expected: tuple[int, ...], label: str) -> None:
    """Check one of ``(h_0, c_0)`` (named ``label``, e.g. ``hidden[0]``) against its shape."""
    if state.size() != expected:
        raise RuntimeError(f"Expected {label} size {expected}, got {list(state.size())}")


def check_lengths(lengths: Tensor, batch_size: int, max_length: int) -> None:
    """Check a ``(B,)`` tensor of sequence lengths against a padded ``T``-step batch."""
    if lengths.dim() != 1 or lengths.numel() != batch_size:
        raise ValueError(
            f"lengths must be a 1-D tensor with one entry per sequence ({batch_size}), "
            f"got shape {tuple(lengths.shape)}"
        )
    if lengths.dtype.is_floating_point or lengths.dtype.is_complex:
        raise ValueError(f"lengths must hold integers, got dtype {lengths.dtype}")
    if batch_size and (int(lengths.min()) < 1 or int(lengths.max()) > max_length):
        raise ValueError(
            f"lengths must lie in [1, {max_length}] (the padded number of steps), "
            f"got min {int(lengths.min())} and max {int(lengths.max())}"
        )
