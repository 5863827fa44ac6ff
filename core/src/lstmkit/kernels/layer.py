"""lstmkit's kernel for one LSTM layer in one direction, with every lstmkit variant."""

from __future__ import annotations

from typing import Unpack

import torch
from torch import Tensor

from lstmkit.kernels import cpp_kernels
from lstmkit.kernels.extension import kernels_for
from lstmkit.kernels.function import LSTMLayerFunction
from lstmkit.kernels.interface import LoopInputs
from lstmkit.kernels.weight_layout import gemm_layout
from lstmkit.reference import LayerNormParams, VariantTensors, check_variant_names


def lstm_layer(
    gates_x: Tensor,
    w_hh: Tensor,
    h0: Tensor,
    c0: Tensor,
    *,
    ln_x: LayerNormParams | None = None,
    w_ih: Tensor | None = None,
    input_bias: Tensor | None = None,
    **variants: Unpack[VariantTensors],
) -> tuple[Tensor, Tensor, Tensor]:
    """Run the LSTM recurrence over a whole sequence with a hand-written backward.

    Same arguments, outputs and gradients as :func:`lstmkit.reference.reference_lstm_layer`
    (see there for the equations), plus ``ln_x``: the input term's layer norm ``N_x``
    (Ba et al. 2016), computed inside the time loop. With ``ln_x = (gain, shift)`` ``gates_x``
    is the input term ``x W_ih^T`` and the gate inputs are ``layer_norm(gates_x) * gain +
    shift`` (gate biases folded into ``shift``); without it ``gates_x`` holds the gate
    inputs. Shapes: ``gates_x`` ``(T, B, 4H)``, ``w_hh`` ``(4H, P)``, ``h0``
    ``(B, P)``, ``c0`` ``(B, H)``, ``ln_x`` ``((4H,), (4H,))``; ``**variants`` are the
    variants that are on and the padding mask, by the names and with the shapes of
    :class:`~lstmkit.reference.VariantTensors` (``TypeError`` for any other keyword).
    Returns ``(out, h_n, c_n)`` of shapes ``(T, B, P)``, ``(B, P)``, ``(B, H)``.

    With ``w_ih`` ``(4H, I)`` (and ``input_bias`` ``(4H,)``, the gate biases where ``ln_x``
    does not hold them), ``gates_x`` is the layer input ``x`` ``(T, B, I)`` and the loop
    computes each step's input term ``x_t W_ih^T + input_bias`` as it goes, so the
    ``(T, B, 4H)`` input term never goes through memory; this form has no backward pass
    (``ValueError`` when a gradient is required).

    Gradients flow to ``gates_x``, ``w_hh``, ``h0``, ``c0``, the layer-norm gains and biases,
    ``peephole`` and ``w_hr``; masks and zoneout samples are constants. On CPU the time loops
    run in C++, on CUDA in Triton kernels, elsewhere in PyTorch
    (:mod:`lstmkit.kernels.extension`).

    Mixed precision: the time loop runs with autocast off, in at least float32
    (:func:`loop_dtype`), so the states ``h`` and ``c`` carried from step to step, the
    recurrent GEMM and the layer-norm statistics keep full precision under
    ``torch.autocast`` and with bfloat16/float16 parameters. ``out`` comes back in the dtype
    of ``gates_x`` (the autocast dtype when the input GEMM ran under autocast), ``h_n`` and
    ``c_n`` in the dtype of ``w_hh`` (the parameters'); gradients reach every input in its
    own dtype.
    """
    check_variant_names(lstm_layer, variants)
    dtype = loop_dtype(gates_x, w_hh)
    given = LoopInputs(
        gates_x, w_hh, h0, c0, *_pair(ln_x), *_pair(variants.get("ln_h")),
        *_pair(variants.get("ln_c")), variants.get("peephole"), variants.get("w_hr"),
        variants.get("rd_mask"), variants.get("zoneout_h"), variants.get("zoneout_c"),
        variants.get("mask"), w_ih, input_bias,
    )  # fmt: skip
    # Without a backward pass the C++ loop keeps one step of its backward buffers.
    keep = torch.is_grad_enabled() and given.requires_grad()
    if keep and w_ih is not None:
        raise ValueError(
            "lstm_layer: w_ih= computes the input term inside the loop, which has no backward "
            "pass; pass gates_x = x W_ih^T (+ biases) instead when a gradient is required"
        )
    # The casts stay outside the Function: autograd casts each gradient back to its input's
    # dtype (no-ops when everything is float32 already).
    inputs = LoopInputs(*(None if x is None else x.to(dtype).contiguous() for x in given))
    kernels = kernels_for(gates_x.device)
    if kernels is cpp_kernels and not keep:
        inputs = inputs._replace(**{
            name: gemm_layout(weight) for name in ("w_hh", "w_hr", "w_ih")
            if (weight := getattr(inputs, name)) is not None
        })  # fmt: skip
    out, h_n, c_n = LSTMLayerFunction.apply(kernels, keep, *inputs)
    return out.to(gates_x.dtype), h_n.to(w_hh.dtype), c_n.to(w_hh.dtype)


def _pair(layer_norm: LayerNormParams | None) -> LayerNormParams | tuple[None, None]:
    """A layer norm's ``(gain, bias)``, or two ``None`` where it is off."""
    return (None, None) if layer_norm is None else layer_norm


def loop_dtype(gates_x: Tensor, w_hh: Tensor) -> torch.dtype:
    """The dtype the time loop runs in: that of its inputs, raised to at least float32.

    bfloat16 and float16 (from autocast or from half-precision parameters) become float32;
    float64 stays float64.
    """
    return torch.promote_types(torch.promote_types(gates_x.dtype, w_hh.dtype), torch.float32)
