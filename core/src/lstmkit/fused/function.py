"""Autograd Function of one LSTM layer with a hand-written backward.

The forward pass runs the time loop once and keeps only what the backward pass needs
(activated gates, states, layer-norm statistics). The backward pass runs the time loop in
reverse with one small GEMM per step and stores the gradients of the two gate terms for all
steps, so that the weight gradients are big GEMMs over ``(T * B)`` rows afterwards::

    dW_hh = sum_t  d(W_hh h_in)_t^T  (h_{t-1} * r)      one (4H, T*B) x (T*B, P) GEMM
    dW_hr = sum_t  dh'_t^T  (o * tanh(N_c(c'_t)))_t     one (P, T*B) x (T*B, H) GEMM

The kernels return the gradients of the small parameters (layer-norm gains and biases,
peepholes) already summed over ``(t, b)``::

    dg_x = sum da * xhat_x,  dg_h = sum da * xhat_h,  db_x = db_h = sum da
    dg_c = sum dN_c * xhat_c,  db_c = sum dN_c
    dp_i = sum da_i * c_{t-1},  dp_f = sum da_f * c_{t-1},  dp_o = sum da_o * c'_t

The time loops themselves come from a *kernels* object: the C++ extension
(``lstmkit/csrc/lstm_layer.cpp``) or its PyTorch twin :mod:`lstmkit.fused.python_kernels`.
Both passes run with autocast off, on inputs that :func:`lstmkit.fused.lstm_layer` has
already cast to one dtype: autocast would turn the PyTorch twin's GEMMs into low-precision
ones whose results no longer match the dtype of the state they update.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from types import ModuleType, SimpleNamespace
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable


class LSTMLayerFunction(torch.autograd.Function):
    """``(kernels, keep, gates_x, w_hh, h0, c0, ln_x_gain, ln_x_bias, ln_h_gain, ln_h_bias,
    ln_c_gain, ln_c_bias, peephole, w_hr, rd_mask, zoneout_h, zoneout_c, mask) ->
    (out, h_n, c_n)``; see :func:`lstmkit.fused.lstm_layer` for the equations and shapes.
    ``keep`` is False when no backward pass will follow."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        kernels: ModuleType | SimpleNamespace,
        keep: bool,
        gates_x: Tensor,
        w_hh: Tensor,
        h0: Tensor,
        c0: Tensor,
        ln_x_gain: Tensor | None,
        ln_x_bias: Tensor | None,
        ln_h_gain: Tensor | None,
        ln_h_bias: Tensor | None,
        ln_c_gain: Tensor | None,
        ln_c_bias: Tensor | None,
        peephole: Tensor | None,
        w_hr: Tensor | None,
        rd_mask: Tensor | None,
        zoneout_h: Tensor | None,
        zoneout_c: Tensor | None,
        mask: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        with autocast_off(gates_x.device):
            out, hs, cs, *saved = kernels.forward_loop(
                gates_x, w_hh, h0, c0, ln_x_gain, ln_x_bias, ln_h_gain, ln_h_bias, ln_c_gain,
                ln_c_bias, peephole, w_hr, rd_mask, zoneout_h, zoneout_c, mask, keep,
            )  # fmt: skip
        ctx.kernels = kernels
        # The input term is read again only to recompute N_x's xhat.
        input_term = gates_x if ln_x_gain is not None else None
        ctx.save_for_backward(
            hs, cs, *saved, input_term, w_hh, ln_x_gain, ln_h_gain, ln_c_gain, peephole, w_hr,
            rd_mask, zoneout_h, zoneout_c, mask,
        )  # fmt: skip
        return out, hs[-1].clone(), cs[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Any, grad_out: Tensor, grad_h_n: Tensor, grad_c_n: Tensor
    ) -> tuple[Tensor | None, ...]:
        with autocast_off(grad_out.device):
            return LSTMLayerFunction._backward(ctx, grad_out, grad_h_n, grad_c_n)

    @staticmethod
    def _backward(
        ctx: Any, grad_out: Tensor, grad_h_n: Tensor, grad_c_n: Tensor
    ) -> tuple[Tensor | None, ...]:
        (hs, cs, gates, cell, tanh_c, proj_in, xhat_h, rstd_h, xhat_c, rstd_c, mean_x, rstd_x,
         input_term, w_hh, ln_x_gain, ln_h_gain, ln_c_gain, peephole, w_hr,
         rd_mask, zoneout_h, zoneout_c, mask) = ctx.saved_tensors  # fmt: skip
        (d_input, d_recurrent, d_proj_out, d_h0, d_c0, d_gate_shift, d_ln_x_gain, d_ln_h_gain,
         d_ln_c_gain, d_ln_c_bias, d_peephole) = ctx.kernels.backward_loop(
            grad_out.contiguous(), grad_h_n.contiguous(), grad_c_n.contiguous(),
            input_term, hs, cs, gates, cell, tanh_c,
            xhat_h, rstd_h, xhat_c, rstd_c, mean_x, rstd_x, w_hh, ln_x_gain, ln_h_gain,
            ln_c_gain, peephole, w_hr, rd_mask, zoneout_h, zoneout_c, mask,
        )  # fmt: skip
        needs = ctx.needs_input_grad
        d_w_hh = d_w_hr = None
        if needs[3]:
            h_in = hs[:-1] if rd_mask is None else hs[:-1] * rd_mask
            d_w_hh = _rows(d_recurrent).t() @ _rows(h_in)
        if w_hr is not None and needs[13]:
            d_w_hr = _rows(d_proj_out).t() @ _rows(proj_in)
        d_ln_x_bias = d_gate_shift if ln_x_gain is not None else None
        d_ln_h_bias = d_gate_shift if ln_h_gain is not None else None
        return (
            None, None, d_input, d_w_hh, d_h0, d_c0, d_ln_x_gain, d_ln_x_bias,
            d_ln_h_gain, d_ln_h_bias, d_ln_c_gain, d_ln_c_bias, d_peephole, d_w_hr,
            None, None, None, None,
        )  # fmt: skip


def autocast_off(device: torch.device) -> AbstractContextManager:
    """A context with autocast disabled for ``device``'s type (where autocast exists)."""
    if not torch.amp.is_autocast_available(device.type):
        return nullcontext()
    return torch.autocast(device.type, enabled=False)


def _rows(x: Tensor) -> Tensor:
    """``(T, B, N) -> (T * B, N)``."""
    return x.reshape(-1, x.shape[-1])
