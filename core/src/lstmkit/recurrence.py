"""One LSTM layer in one direction with variants: input gates, masks and the recurrence call.

Every variant layer of :class:`~lstmkit.LSTM` and every variant step of
:class:`~lstmkit.LSTMCell` goes through :func:`recurrence`, which picks the function
that runs the time loop (signature and semantics of
:func:`lstmkit.reference.reference_lstm_layer`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lstmkit.direction import DirectionWeights
from lstmkit.fused import lstm_layer
from lstmkit.lengths import reverse_within_lengths
from lstmkit.reference import LayerNormParams, reference_lstm_layer
from lstmkit.variants import LayerVariants


def is_exporting() -> bool:
    """True while TorchScript traces or scripts, ``torch.export`` runs or ONNX exports."""
    return (
        torch.jit.is_tracing()
        or torch.jit.is_scripting()
        or torch.onnx.is_in_onnx_export()
        or torch.compiler.is_exporting()
    )


def recurrence():
    """The layer function: the fused fast path, or the reference loop while exporting.

    TorchScript tracing, ``torch.export`` and ONNX export need plain tensor operations,
    which the reference loop is made of; the fused path is a custom autograd Function.
    Both take ``ln_x``, the input-term layer norm (see :func:`lstmkit.fused.lstm_layer`).
    """
    return reference_with_input_norm if is_exporting() else lstm_layer


def reference_with_input_norm(
    gates_x: Tensor, *args: Tensor, ln_x: LayerNormParams | None = None, **kwargs
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`reference_lstm_layer` on ``N_x(gates_x)`` (``ln_x`` as in ``lstm_layer``)."""
    if ln_x is not None:
        gates_x = F.layer_norm(gates_x, (gates_x.shape[-1],), *ln_x)
    return reference_lstm_layer(gates_x, *args, **kwargs)


def input_term(x: Tensor, weights: DirectionWeights) -> tuple[Tensor, LayerNormParams | None]:
    """Input contributions to the gates for all steps at once: ``(..., I) -> (..., 4H)``.

    ``gx = N_x(x W_ih^T) + b_ih + b_hh``, ``N_x`` the input-term layer norm (Ba et al.
    2016) or the identity. Returns ``(gx, None)`` without layer norm, else ``(x W_ih^T,
    (gain, shift))`` with the biases folded into the norm's shift, for the layer function
    to normalise inside its time loop.
    """
    bias = None if weights.bias_ih is None else weights.bias_ih + weights.bias_hh
    if weights.ln_ih is None:
        return F.linear(x, weights.weight_ih, bias), None
    gain, shift = weights.ln_ih
    return F.linear(x, weights.weight_ih), (gain, shift if bias is None else shift + bias)


def run_direction(
    x: Tensor,
    weights: DirectionWeights,
    h0: Tensor,
    c0: Tensor,
    variants: LayerVariants,
    *,
    reverse: bool,
    lengths: Tensor | None,
    mask: Tensor | None,
    training: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """Run one direction of one layer over a padded batch.

    Args:
        x: ``(T, B, I)`` layer input.
        weights: the layer-direction's parameters.
        h0: ``(B, P)``; c0: ``(B, H)`` initial state.
        variants: which variants the layer uses.
        reverse: run from each sequence's true end back to its start (the backward
            direction): reverse every sequence within its length, run forward, reverse back.
        lengths: ``(B,)`` true lengths, or None when every sequence has ``T`` steps.
        mask: ``(T, B)``, 1 at real steps and 0 at padding (from ``lengths``).
        training: sample recurrent dropout and zoneout (else zoneout's expectation).

    Returns:
        ``(out, h_n, c_n)``: ``(T, B, P)`` (zero at padding), ``(B, P)``, ``(B, H)``.
    """
    if reverse:
        x = reverse_within_lengths(x, lengths)
    steps, batch = x.shape[0], x.shape[1]
    rd_mask = zoneout_h = zoneout_c = None
    if training and variants.recurrent_dropout > 0:
        keep = 1.0 - variants.recurrent_dropout
        rd_mask = h0.new_empty(batch, h0.shape[-1]).bernoulli_(keep) / keep
    if variants.zoneout > 0:
        if training:
            zoneout_h = h0.new_empty(steps, batch, h0.shape[-1]).bernoulli_(variants.zoneout)
            zoneout_c = c0.new_empty(steps, batch, c0.shape[-1]).bernoulli_(variants.zoneout)
        else:
            zoneout_h = zoneout_c = torch.tensor(variants.zoneout, dtype=x.dtype, device=x.device)
    gates_x, ln_x = input_term(x, weights)
    out, h_n, c_n = recurrence()(
        gates_x,
        weights.weight_hh,
        h0,
        c0,
        ln_x=ln_x,
        ln_h=weights.ln_hh,
        ln_c=weights.ln_c,
        peephole=weights.peephole,
        w_hr=weights.weight_hr,
        rd_mask=rd_mask,
        zoneout_h=zoneout_h,
        zoneout_c=zoneout_c,
        mask=mask,
    )
    if reverse:
        out = reverse_within_lengths(out, lengths)
    return out, h_n, c_n
