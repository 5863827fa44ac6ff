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

The time loops themselves come from a backend (:class:`lstmkit.kernels.interface.LoopKernels`:
the C++ extension, the Triton kernels or the PyTorch loops). Both passes run with autocast
off, on inputs that :func:`lstmkit.kernels.lstm_layer` has already cast to one dtype: autocast
would turn the PyTorch loops' GEMMs into low-precision ones whose results no longer match the
dtype of the state they update.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from lstmkit.kernels.interface import LoopInputs, LoopKernels, LoopSaved


class LSTMLayerFunction(torch.autograd.Function):
    """``(kernels, keep, *inputs) -> (out, h_n, c_n)`` with ``inputs`` the fields of a
    :class:`~lstmkit.kernels.interface.LoopInputs` (flat, so that autograd sees each tensor);
    see :func:`lstmkit.kernels.lstm_layer` for the equations and shapes. ``keep`` is False
    when no backward pass will follow."""

    @staticmethod
    def forward(
        ctx: FunctionCtx, kernels: LoopKernels, keep: bool, *tensors: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        inputs = LoopInputs(*tensors)
        with autocast_off(inputs.gates_x.device):
            buffers = kernels.forward_loop(inputs, keep)
        ctx.kernels = kernels
        ctx.save_for_backward(buffers.proj_in, *LoopSaved.of(inputs, buffers).flat())
        saved = buffers.saved
        return buffers.out, saved.hs[-1].clone(), saved.cs[-1].clone()

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
        proj_in, *saved_tensors = ctx.saved_tensors
        saved = LoopSaved.from_flat(saved_tensors)
        grads = ctx.kernels.backward_loop(
            grad_out.contiguous(), grad_h_n.contiguous(), grad_c_n.contiguous(), saved
        )
        needs = LoopInputs(*ctx.needs_input_grad[2:])
        d_w_hh = d_w_hr = None
        if needs.w_hh:
            hs = saved.buffers.hs
            h_in = hs[:-1] if saved.rd_mask is None else hs[:-1] * saved.rd_mask
            d_w_hh = _rows(grads.d_recurrent).t() @ _rows(h_in)
        if saved.w_hr is not None and needs.w_hr:
            d_w_hr = _rows(grads.d_proj_out).t() @ _rows(proj_in)
        input_grads = LoopInputs(
            gates_x=grads.d_input,
            w_hh=d_w_hh,
            h0=grads.d_h0,
            c0=grads.d_c0,
            ln_x_gain=grads.d_ln_x_gain,
            ln_x_bias=grads.d_gate_shift if saved.ln_x_gain is not None else None,
            ln_h_gain=grads.d_ln_h_gain,
            ln_h_bias=grads.d_gate_shift if saved.ln_h_gain is not None else None,
            ln_c_gain=grads.d_ln_c_gain,
            ln_c_bias=grads.d_ln_c_bias,
            peephole=grads.d_peephole,
            w_hr=d_w_hr,
        )  # the masks, zoneout samples and the inference-only w_ih take no gradient
        return (None, None, *input_grads)


def autocast_off(device: torch.device) -> AbstractContextManager:
    """A context with autocast disabled for ``device``'s type (where autocast exists)."""
    if not torch.amp.is_autocast_available(device.type):
        return nullcontext()
    return torch.autocast(device.type, enabled=False)


def _rows(x: Tensor) -> Tensor:
    """``(T, B, N) -> (T * B, N)``."""
    return x.reshape(-1, x.shape[-1])
