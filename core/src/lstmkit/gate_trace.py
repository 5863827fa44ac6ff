"""What the gates of one LSTM layer-direction did over a sequence."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from torch import Tensor


class GateTrace(NamedTuple):
    r"""Gate activations and cell state of one layer in one direction, step by step.

    At step ``t`` (see :class:`lstmkit.LSTM` for the variants' terms)::

        i_t = sigma(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)     input gate: how much of g_t to write
        f_t = sigma(W_if x_t + b_if + W_hf h_{t-1} + b_hf)     forget gate: how much of c_{t-1} to keep
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)      candidate cell state
        o_t = sigma(W_io x_t + b_io + W_ho h_{t-1} + b_ho)     output gate: how much of tanh(c_t) to show
        c_t = f_t * c_{t-1} + i_t * g_t                        cell state (after zoneout, if any)

    Each field is ``(T, B, H)`` (``(B, T, H)`` with ``batch_first``; ``(B, H)`` from
    :class:`lstmkit.LSTMCell`), zero past each sequence's length. For the backward
    direction step ``t`` is still input position ``t``.
    """

    i: Tensor
    f: Tensor
    g: Tensor
    o: Tensor
    c: Tensor

    def map(self, fn: Callable[[Tensor], Tensor]) -> GateTrace:
        """Apply ``fn`` to every field (e.g. ``trace.map(lambda t: t.transpose(0, 1))``)."""
        return GateTrace(*(fn(t) for t in self))


LayerGates = list[GateTrace]
"""The traces of one layer: one :class:`GateTrace` per direction (forward, then backward)."""
