"""One LSTM layer in one direction on lstmkit's kernel or the reference loop: input term,
masks, and the call of the layer function.

Every layer of :class:`~lstmkit.LSTM` and every step of :class:`~lstmkit.LSTMCell` that the
dispatch plan (:mod:`lstmkit.dispatch`) gives to :attr:`~lstmkit.dispatch.Engine.LSTMKIT_KERNEL`
or :attr:`~lstmkit.dispatch.Engine.REFERENCE` goes through :func:`run_direction`, which calls
that engine's layer function (the signature and semantics of
:func:`lstmkit.reference.reference_lstm_layer`, plus ``ln_x``).
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from lstmkit.direction import DirectionWeights
from lstmkit.dispatch import Engine, is_exporting
from lstmkit.gate_trace import GateTrace
from lstmkit.kernels import cpp_kernels, lstm_layer
from lstmkit.kernels.extension import kernels_for
from lstmkit.lengths import reverse_within_lengths
from lstmkit.reference import LayerNormParams, reference_lstm_layer
from lstmkit.variants import LayerVariants

# Multiply-adds from which an inference input GEMM runs on oneDNN (see input_gemm): packing
# the weight for the call costs about 0.2 ms, which small GEMMs do not win back.
ONEDNN_MIN_MACS = 2**27
# Bytes of W_ih and W_hh together up to which inference computes the input term inside the
# loop (see input_term_in_loop). Measured on one AMD EPYC core: at I = H = 256 (2 MiB) the loop
# is 3-6 % faster with it, at I = H = 512 (8 MiB) 16-33 % slower (one big GEMM before the
# loop reads W_ih far fewer times than one GEMM per step does).
IN_LOOP_MAX_WEIGHT_BYTES = 2**21


def reference_with_input_norm(
    gates_x: Tensor, *args: Tensor, ln_x: LayerNormParams | None = None, **kwargs
) -> tuple[Tensor, Tensor, Tensor] | tuple[Tensor, Tensor, Tensor, GateTrace]:
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
    bias, ln_x = gate_bias(weights)
    return input_gemm(x, weights.weight_ih, bias), ln_x


def gate_bias(weights: DirectionWeights) -> tuple[Tensor | None, LayerNormParams | None]:
    """``(bias added to x W_ih^T, N_x)``: ``b_ih + b_hh`` and no norm, or no bias and the
    input-term layer norm with the biases folded into its shift."""
    bias = None if weights.bias_ih is None else weights.bias_ih + weights.bias_hh
    if weights.ln_ih is None:
        return bias, None
    gain, shift = weights.ln_ih
    return None, (gain, shift if bias is None else shift + bias)


def input_term_in_loop(x: Tensor, weights: DirectionWeights) -> bool:
    """Whether lstmkit's kernel computes the input term step by step, inside its time loop:
    float32 inference on the C++ loops, with weights small enough
    (:data:`IN_LOOP_MAX_WEIGHT_BYTES`). The ``(T, B, 4H)`` input term then never goes
    through memory (written after one big GEMM, read back step by step), which is what
    keeps CPU inference of the variant layers close to ``nn.LSTM``'s oneDNN kernel."""
    tensors = [x, *(t for t in weights if isinstance(t, Tensor))]
    tensors += [t for pair in (weights.ln_ih, weights.ln_hh, weights.ln_c) if pair for t in pair]
    weight_bytes = (weights.weight_ih.numel() + weights.weight_hh.numel()) * x.element_size()
    return (
        not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))
        and x.device.type == "cpu"
        and x.dtype == weights.weight_ih.dtype == torch.float32
        and weight_bytes <= IN_LOOP_MAX_WEIGHT_BYTES
        and not torch._C._is_any_autocast_enabled()
        and kernels_for(x.device) is cpp_kernels
    )


def input_gemm(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.linear(x, weight, bias)``; large float32 CPU GEMMs without autograd on oneDNN.

    oneDNN, which ``nn.LSTM``'s CPU kernel uses for the same GEMM, outruns the default BLAS
    on some CPUs (about 1.15x on the AMD EPYC of the benchmarks); it runs here only where
    no gradient is needed, with the weight packed for this call.
    """
    rows = x.numel() // max(x.shape[-1], 1)
    inference = not torch.is_grad_enabled() or not any(
        t is not None and t.requires_grad for t in (x, weight, bias)
    )
    if (
        inference
        and x.device.type == "cpu"
        and x.dtype == weight.dtype == torch.float32
        and rows * weight.numel() >= ONEDNN_MIN_MACS
        and torch.backends.mkldnn.is_available()
        and not torch._C._is_any_autocast_enabled()
        and not is_exporting()
    ):
        packed = torch.ops.mkldnn._reorder_linear_weight(weight, rows)
        out = torch.ops.mkldnn._linear_pointwise(x.reshape(rows, -1), packed, bias, "none", [], "")
        return out.view(*x.shape[:-1], weight.shape[0])
    return F.linear(x, weight, bias)


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
    engine: Engine,
    return_gates: bool = False,
) -> tuple[Tensor, Tensor, Tensor] | tuple[Tensor, Tensor, Tensor, GateTrace]:
    """Run one direction of one layer over a padded batch on ``engine``.

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
        engine: :attr:`~lstmkit.dispatch.Engine.LSTMKIT_KERNEL` or
            :attr:`~lstmkit.dispatch.Engine.REFERENCE`.
        return_gates: (the reference loop only) also return its
            :class:`~lstmkit.gate_trace.GateTrace` (``(T, B, H)`` fields, in input order).

    Returns:
        ``(out, h_n, c_n)``: ``(T, B, P)`` (zero at padding), ``(B, P)``, ``(B, H)``; then
        the trace with ``return_gates``.
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
    input_weights = {}
    if engine is Engine.LSTMKIT_KERNEL and input_term_in_loop(x, weights):
        bias, ln_x = gate_bias(weights)
        gates_x, input_weights = x.contiguous(), {"w_ih": weights.weight_ih, "input_bias": bias}
    else:
        gates_x, ln_x = input_term(x, weights)
    if engine is Engine.LSTMKIT_KERNEL:
        layer_function = partial(lstm_layer, **input_weights)
    else:
        layer_function = partial(reference_with_input_norm, return_gates=return_gates)
    out, h_n, c_n, *trace = layer_function(
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
        trace = [t.map(lambda v: reverse_within_lengths(v, lengths)) for t in trace]
    return (out, h_n, c_n, *trace)
