"""One LSTM step: a drop-in for ``torch.nn.LSTMCell``, plus variants."""

from __future__ import annotations

import torch
from torch import _VF, Tensor

from lstmkit.base import LSTMBase
from lstmkit.direction import RECURRENT_INITS
from lstmkit.dispatch import DispatchPlan, Engine, classify_call, plan_cell
from lstmkit.gate_trace import GateTrace
from lstmkit.recurrence import run_direction
from lstmkit.variants import LayerVariants

State = tuple[Tensor, Tensor]


class LSTMCell(LSTMBase):
    r"""A long short-term memory cell with ``torch.nn.LSTMCell``'s arguments and parameters.

    One step, in PyTorch's gate order ``i, f, g, o``::

        i  = sigma(W_ii x + b_ii + W_hi h + b_hi)     input gate
        f  = sigma(W_if x + b_if + W_hf h + b_hf)     forget gate
        g  = tanh(W_ig x + b_ig + W_hg h + b_hg)      candidate cell state
        o  = sigma(W_io x + b_io + W_ho h + b_ho)     output gate
        c' = f * c + i * g
        h' = o * tanh(c')

    With only ``nn.LSTMCell``'s arguments this is torch's cell kernel, with
    ``nn.LSTMCell``'s initialisation. Keyword-only variants, as in :class:`lstmkit.LSTM`:
    ``layer_norm`` (on ``W_ih x``, ``W_hh h`` and ``c'`` before ``tanh``), ``peephole``,
    ``zoneout`` (sampled per call in training, its expectation in evaluation),
    ``forget_bias`` (default 1.0 with any variant) and ``recurrent_init``.

    Under ``torch.autocast`` every cell, plain or not, runs the step of lstmkit's kernel
    (:func:`lstmkit.kernels.lstm_layer`): ``W_ih x`` in the autocast dtype, the rest in float32,
    and ``(h', c')`` come back in the parameters' dtype, so a decoder looping over steps
    carries its state at full precision (torch's cell kernel would round it to the autocast
    dtype on CUDA). :meth:`dispatch_plan` shows which engine computes the step.

    Args:
        input_size: features ``I`` of the input.
        hidden_size: features ``H`` of the hidden and cell state.
        bias: use ``b_ih`` and ``b_hh``.

    Inputs: ``input, hx=None, return_gates=False``
        - ``input``: ``(B, I)`` or unbatched ``(I,)``.
        - ``hx``: ``(h, c)``, each ``(B, H)`` or ``(H,)``; zeros when omitted.
        - ``return_gates``: also return the step's gates, computed by the reference loop
          (:func:`lstmkit.reference_lstm_layer`); without it the step runs as usual.

    Outputs: ``(h', c')``, each ``(B, H)`` or ``(H,)``; with ``return_gates``
    ``((h', c'), gates)``, ``gates`` a :class:`~lstmkit.GateTrace` of ``i, f, g, o`` and
    ``c'``, each ``(B, H)`` or ``(H,)``.
    """

    error_name = "LSTMCell"

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
        variants = LayerVariants(layer_norm=layer_norm, peephole=peephole, zoneout=zoneout)
        nn_arguments_only = variants == LayerVariants() and recurrent_init == RECURRENT_INITS[0]
        super().__init__(input_size, bias, forget_bias, recurrent_init, nn_arguments_only)
        self.hidden_size = hidden_size
        self.variants = variants
        factory = {"device": device, "dtype": dtype}
        self._register_direction("", input_size, hidden_size, 0, variants, factory)
        if not bias:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()
        self._plan_dispatch()

    def _make_plan(self, device_type: str, training: bool) -> DispatchPlan:
        return plan_cell(self.variants.plain_step(training), device_type, training)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        return s + self._variants_repr([self.variants])

    def forward(
        self, input: Tensor, hx: State | None = None, return_gates: bool = False
    ) -> State | tuple[State, GateTrace]:
        """Advance one step; see the class docstring for shapes."""
        self._check_rank(input, (1, 2))
        if hx is not None:
            for index, value in enumerate(hx):
                self._check_rank(value, (1, 2), f"hx[{index}]")
        batched = input.dim() == 2
        if not batched:
            input = input.unsqueeze(0)
        if hx is None:
            zeros = input.new_zeros(input.size(0), self.hidden_size)
            hx = (zeros, zeros)
        elif not batched:
            hx = (hx[0].unsqueeze(0), hx[1].unsqueeze(0))
        call = classify_call(gates=return_gates, autocast=torch._C._is_any_autocast_enabled())
        engine = self.dispatch_plan().engine(0, call)
        if engine is Engine.TORCH:
            h, c = _VF.lstm_cell(
                input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh
            )
        else:
            _, h, c, *trace = run_direction(
                input.unsqueeze(0),
                self._weights(""),
                hx[0],
                hx[1],
                self.variants,
                reverse=False,
                lengths=None,
                mask=None,
                training=self.training,
                engine=engine,
                return_gates=return_gates,
            )
        if not batched:
            h, c = h.squeeze(0), c.squeeze(0)
        if return_gates:
            # The trace is (1, B, H): one step; drop the step (and an unbatched B).
            return (h, c), trace[0].map(lambda t: t[0] if batched else t[0, 0])
        return h, c
