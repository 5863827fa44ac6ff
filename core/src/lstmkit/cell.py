"""One LSTM step: a drop-in for ``torch.nn.LSTMCell``."""

from __future__ import annotations

import math

import torch
from torch import _VF, Tensor, nn

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

    Args:
        input_size: features ``I`` of the input.
        hidden_size: features ``H`` of the hidden and cell state.
        bias: use ``b_ih`` and ``b_hh``.

    Inputs: ``input, hx=None``
        - ``input``: ``(B, I)`` or unbatched ``(I,)``.
        - ``hx``: ``(h, c)``, each ``(B, H)`` or ``(H,)``; zeros when omitted.

    Outputs: ``(h', c')``, each ``(B, H)`` or ``(H,)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = nn.Parameter(torch.empty((4 * hidden_size, input_size), **factory))
        self.weight_hh = nn.Parameter(torch.empty((4 * hidden_size, hidden_size), **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size, **factory))
            self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``nn.LSTMCell``'s init: every parameter from ``U(-1/sqrt(H), 1/sqrt(H))``."""
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        return s

    def forward(self, input: Tensor, hx: State | None = None) -> State:
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
        h, c = _VF.lstm_cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        if not batched:
            return h.squeeze(0), c.squeeze(0)
        return h, c
