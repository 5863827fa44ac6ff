"""One LSTM step: a drop-in for ``torch.nn.LSTMCell``, plus variants."""

from __future__ import annotations

import math

import torch
from torch import _VF, Tensor, nn

from lstmkit.direction import (
    RECURRENT_INITS,
    direction_weights,
    register_direction,
    reset_direction,
)
from lstmkit.gate_trace import GateTrace
from lstmkit.recurrence import run_direction
from lstmkit.variants import LayerVariants

State = tuple[Tensor, Tensor]


class LSTMCell(nn.Module):
    r"""A long short-term memory cell with ``torch.nn.LSTMCell``'s arguments and parameters.

    One step, in PyTorch's gate order ``i, f, g, o``::

        i  = sigma(W_ii x + b_ii + W_hi h + b_hi)     input gate
        f  = sigma(W_if x + b_if + W_hf h + b_hf)     forget gate
        g  = tanh(W_ig x + b_ig + W_hg h + b_hg)      candidate cell state
        o  = sigma(W_io x + b_io + W_ho h + b_ho)     output gate
        c' = f * c + i * g
        h' = o * tanh(c')

    With only ``nn.LSTMCell``'s arguments this is torch's fused cell kernel, with
    ``nn.LSTMCell``'s initialisation. Keyword-only variants, as in :class:`lstmkit.LSTM`:
    ``layer_norm`` (on ``W_ih x``, ``W_hh h`` and ``c'`` before ``tanh``), ``peephole``,
    ``zoneout`` (sampled per call in training, its expectation in evaluation),
    ``forget_bias`` (default 1.0 with any variant) and ``recurrent_init``.

    Under ``torch.autocast`` every cell, plain or not, runs the step of
    :func:`lstmkit.kernels.lstm_layer`: ``W_ih x`` in the autocast dtype, the rest in float32,
    and ``(h', c')`` come back in the parameters' dtype, so a decoder looping over steps
    carries its state at full precision (torch's fused cell would round it to the autocast
    dtype on CUDA).

    Args:
        input_size: features ``I`` of the input.
        hidden_size: features ``H`` of the hidden and cell state.
        bias: use ``b_ih`` and ``b_hh``.

    Inputs: ``input, hx=None, return_gates=False``
        - ``input``: ``(B, I)`` or unbatched ``(I,)``.
        - ``hx``: ``(h, c)``, each ``(B, H)`` or ``(H,)``; zeros when omitted.
        - ``return_gates``: also return the step's gates, computed by the reference loop
          (:func:`lstmkit.reference_lstm_layer`); without it the fast path runs as usual.

    Outputs: ``(h', c')``, each ``(B, H)`` or ``(H,)``; with ``return_gates``
    ``((h', c'), gates)``, ``gates`` a :class:`~lstmkit.GateTrace` of ``i, f, g, o`` and
    ``c'``, each ``(B, H)`` or ``(H,)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        layer_norm: bool = False,
        peephole: bool = False,
        zoneout: float = 0.0,
        forget_bias: float | None = None,
        recurrent_init: str = "uniform",
    ) -> None:
        super().__init__()
        if recurrent_init not in RECURRENT_INITS:
            raise ValueError(
                f"recurrent_init must be one of {RECURRENT_INITS}, got {recurrent_init!r}"
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.variants = LayerVariants(layer_norm=layer_norm, peephole=peephole, zoneout=zoneout)
        self.recurrent_init = recurrent_init
        is_nn_cell = self.variants == LayerVariants() and recurrent_init == RECURRENT_INITS[0]
        self.forget_bias = forget_bias if forget_bias is not None or is_nn_cell else 1.0
        factory = {"device": device, "dtype": dtype}
        register_direction(self, "", input_size, hidden_size, 0, bias, self.variants, factory)
        if not bias:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``nn.LSTMCell``'s init (``U(-1/sqrt(H), 1/sqrt(H))``), then the variants' init."""
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        reset_direction(direction_weights(self, ""), bound, self.forget_bias, self.recurrent_init)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        for name in ("layer_norm", "peephole", "zoneout"):
            if getattr(self.variants, name):
                s += f", {name}={getattr(self.variants, name)}"
        return s

    def forward(
        self, input: Tensor, hx: State | None = None, return_gates: bool = False
    ) -> State | tuple[State, GateTrace]:
        """Advance one step; see the class docstring for shapes."""
        if input.dim() not in (1, 2):
            raise ValueError(f"LSTMCell: Expected input to be 1D or 2D, got {input.dim()}D instead")
        if hx is not None:
            for index, value in enumerate(hx):
                if value.dim() not in (1, 2):
                    raise ValueError(
                        f"LSTMCell: Expected hx[{index}] to be 1D or 2D, got {value.dim()}D instead"
                    )
        batched = input.dim() == 2
        if not batched:
            input = input.unsqueeze(0)
        if hx is None:
            zeros = input.new_zeros(input.size(0), self.hidden_size)
            hx = (zeros, zeros)
        elif not batched:
            hx = (hx[0].unsqueeze(0), hx[1].unsqueeze(0))
        if return_gates or self.variants.changes_recurrence or torch._C._is_any_autocast_enabled():
            _, h, c, *trace = run_direction(
                input.unsqueeze(0),
                direction_weights(self, ""),
                hx[0],
                hx[1],
                self.variants,
                reverse=False,
                lengths=None,
                mask=None,
                training=self.training,
                return_gates=return_gates,
            )
        else:
            h, c = _VF.lstm_cell(
                input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh
            )
        if not batched:
            h, c = h.squeeze(0), c.squeeze(0)
        if return_gates:
            # The trace is (1, B, H): one step; drop the step (and an unbatched B).
            return (h, c), trace[0].map(lambda t: t[0] if batched else t[0, 0])
        return h, c
