"""Time loops of lstmkit's LSTM layer written with PyTorch ops (any device, any float dtype).

The portable backend of :mod:`lstmkit.kernels.interface`: the twin of the C++ loops in
``lstmkit/csrc/lstm_layer.cpp``, with the same buffers and equations. It runs on devices
without a kernel of their own and whenever the C++ extension cannot be built. The
weight-matrix gradients are formed after the loop in :mod:`lstmkit.kernels.function` with
one big GEMM each; the gradients of the small parameters (layer norms, peepholes) are reduced
here after the loop (the C++ loops accumulate them inside). The buffer allocation and the
work after the backward loop are shared with the Triton backend.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lstmkit.kernels.interface import (
    ForwardBuffers,
    LoopGradients,
    LoopInputs,
    LoopSaved,
    SavedBuffers,
)

LAYER_NORM_EPS = 1e-5


def forward_loop(inputs: LoopInputs, keep: bool) -> ForwardBuffers:
    """Run the recurrence (see :class:`~lstmkit.kernels.interface.LoopKernels`); these loops
    keep every step's buffers whatever ``keep``."""
    gates_x, buffers = forward_buffers(inputs)
    w_hh, rd_mask, mask = inputs.w_hh, inputs.rd_mask, inputs.mask
    ln_h_gain, ln_h_bias = inputs.ln_h_gain, inputs.ln_h_bias
    ln_c_gain, ln_c_bias = inputs.ln_c_gain, inputs.ln_c_bias
    peephole, w_hr = inputs.peephole, inputs.w_hr
    zoneout_h, zoneout_c = inputs.zoneout_h, inputs.zoneout_c
    out, proj_in, (hs, cs, gates, cell, tanh_c, xhat_h, rstd_h, xhat_c, rstd_c, *_) = buffers
    w_hh_t = w_hh.t()
    for t in range(gates_x.shape[0]):
        h, c = hs[t], cs[t]
        h_in = h if rd_mask is None else h * rd_mask
        # a_t = gx_t + N_h(W_hh h_in)
        if ln_h_gain is None:
            a = torch.addmm(gates_x[t], h_in, w_hh_t)
        else:
            xh, _, rs = _normalise(h_in @ w_hh_t)
            xhat_h[t], rstd_h[t] = xh, rs
            a = gates_x[t] + torch.addcmul(ln_h_bias, xh, ln_h_gain)
        i, f, g, o = a.chunk(4, dim=-1)
        if peephole is not None:
            i = torch.addcmul(i, peephole[0], c)
            f = torch.addcmul(f, peephole[1], c)
        s_i, s_f, t_g, s_o = gates[t].chunk(4, dim=-1)
        torch.sigmoid(i, out=s_i)
        torch.sigmoid(f, out=s_f)
        torch.tanh(g, out=t_g)
        # c'_t = f * c_{t-1} + i * g
        c_new = torch.addcmul(s_f * c, s_i, t_g)
        if cell is not None:
            cell[t] = c_new
        if peephole is not None:
            o = torch.addcmul(o, peephole[2], c_new)
        torch.sigmoid(o, out=s_o)
        if ln_c_gain is None:
            torch.tanh(c_new, out=tanh_c[t])
        else:
            xc, _, rs = _normalise(c_new)
            xhat_c[t], rstd_c[t] = xc, rs
            torch.tanh(torch.addcmul(ln_c_bias, xc, ln_c_gain), out=tanh_c[t])
        # h'_t = o * tanh(N_c(c'_t)), projected by W_hr for LSTMP
        h_new = s_o * tanh_c[t]
        if proj_in is not None:
            proj_in[t] = h_new
            h_new = h_new @ w_hr.t()
        if zoneout_c is not None:
            c_new = torch.lerp(c_new, c, _at_step(zoneout_c, t))
        if zoneout_h is not None:
            h_new = torch.lerp(h_new, h, _at_step(zoneout_h, t))
        if mask is not None:
            m = mask[t].unsqueeze(-1)
            h_new = torch.lerp(h, h_new, m)
            c_new = torch.lerp(c, c_new, m)
            torch.mul(h_new, m, out=out[t])
        else:
            out[t] = h_new
        hs[t + 1], cs[t + 1] = h_new, c_new
    return buffers


def backward_loop(
    grad_out: Tensor, grad_h_n: Tensor, grad_c_n: Tensor, saved: LoopSaved
) -> LoopGradients:
    """Back-propagate through the time loop (see
    :class:`~lstmkit.kernels.interface.LoopKernels`)."""
    buffers = saved.buffers
    cs, gates, tanh_c = buffers.cs, buffers.gates, buffers.tanh_c
    xhat_h, rstd_h, xhat_c, rstd_c = buffers.xhat_h, buffers.rstd_h, buffers.xhat_c, buffers.rstd_c
    w_hh, ln_h_gain, ln_c_gain = saved.w_hh, saved.ln_h_gain, saved.ln_c_gain
    peephole, w_hr, rd_mask, mask = saved.peephole, saved.w_hr, saved.rd_mask, saved.mask
    zoneout_h, zoneout_c = saved.zoneout_h, saved.zoneout_c
    d_gates, d_recurrent, d_proj_out, d_cell_norm = gradient_buffers(saved)
    dh, dc = grad_h_n, grad_c_n
    for t in reversed(range(gates.shape[0])):
        c_prev = cs[t]
        s_i, s_f, t_g, s_o = gates[t].chunk(4, dim=-1)
        # Padding carries the previous state through: h_t = m h_new + (1 - m) h_{t-1}.
        if mask is not None:
            m = mask[t].unsqueeze(-1)
            dh = dh + grad_out[t] * m
            dh_prev, dc_prev = dh * (1 - m), dc * (1 - m)
            dh, dc = dh * m, dc * m
        else:
            dh = dh + grad_out[t]
            dh_prev = dc_prev = None
        # Zoneout: h_t = z h_{t-1} + (1 - z) h'_t.
        if zoneout_h is not None:
            z = _at_step(zoneout_h, t)
            dh_prev = _accumulate(dh_prev, dh * z)
            dh = dh * (1 - z)
        if zoneout_c is not None:
            z = _at_step(zoneout_c, t)
            dc_prev = _accumulate(dc_prev, dc * z)
            dc = dc * (1 - z)
        if d_proj_out is not None:
            d_proj_out[t] = dh
            dh = dh @ w_hr
        tc = tanh_c[t]
        d_norm = dh * s_o * (1 - tc * tc)
        if d_cell_norm is not None:
            d_cell_norm[t] = d_norm
            d_norm = _normalise_backward(d_norm * ln_c_gain, xhat_c[t], rstd_c[t])
        d_cell = dc + d_norm
        d_i, d_f, d_g, d_o = d_gates[t].chunk(4, dim=-1)
        torch.mul(dh * tc, s_o * (1 - s_o), out=d_o)
        if peephole is not None:
            d_cell = torch.addcmul(d_cell, d_o, peephole[2])
        torch.mul(d_cell * t_g, s_i * (1 - s_i), out=d_i)
        torch.mul(d_cell * c_prev, s_f * (1 - s_f), out=d_f)
        torch.mul(d_cell * s_i, 1 - t_g * t_g, out=d_g)
        dc_prev = _accumulate(dc_prev, d_cell * s_f)
        if peephole is not None:
            dc_prev = dc_prev + d_i * peephole[0] + d_f * peephole[1]
        if ln_h_gain is not None:
            d_recurrent[t] = _normalise_backward(d_gates[t] * ln_h_gain, xhat_h[t], rstd_h[t])
        dh_in = d_recurrent[t] @ w_hh
        if rd_mask is not None:
            dh_in = dh_in * rd_mask
        dh, dc = _accumulate(dh_prev, dh_in), dc_prev
    return finish_backward(d_gates, d_recurrent, d_proj_out, dh, dc, d_cell_norm, saved)


def forward_buffers(inputs: LoopInputs) -> tuple[Tensor, ForwardBuffers]:
    """The forward loop's buffers for every step (``hs[0]``, ``cs[0]`` set to ``h0``, ``c0``),
    and the gate inputs for all steps at once: ``N_x`` of the input term, whose statistics
    fill ``mean_x`` and ``rstd_x``, or the input term itself without ``N_x`` (the input term is
    ``gates_x``, or ``gates_x W_ih^T + input_bias`` with ``w_ih``)."""
    gates_x = inputs.gates_x
    if inputs.w_ih is not None:
        gates_x = F.linear(gates_x, inputs.w_ih, inputs.input_bias)
    steps, batch, four_h = gates_x.shape
    hidden, width = four_h // 4, inputs.h0.shape[-1]
    new = gates_x.new_empty
    hs, cs = new(steps + 1, batch, width), new(steps + 1, batch, hidden)
    hs[0], cs[0] = inputs.h0, inputs.c0
    mean_x = rstd_x = None
    if inputs.ln_x_gain is not None:
        gates_x, mean_x, rstd_x = normalise_input_term(gates_x, inputs.ln_x_gain, inputs.ln_x_bias)

    def if_on(on: object, *shape: int) -> Tensor | None:
        return None if on is None else new(*shape)

    saved = SavedBuffers(
        hs=hs,
        cs=cs,
        gates=new(steps, batch, four_h),
        cell=new(steps, batch, hidden) if needs_cell(inputs) else None,
        tanh_c=new(steps, batch, hidden),
        xhat_h=if_on(inputs.ln_h_gain, steps, batch, four_h),
        rstd_h=if_on(inputs.ln_h_gain, steps, batch),
        xhat_c=if_on(inputs.ln_c_gain, steps, batch, hidden),
        rstd_c=if_on(inputs.ln_c_gain, steps, batch),
        mean_x=mean_x,
        rstd_x=rstd_x,
    )
    buffers = ForwardBuffers(
        out=new(steps, batch, width),
        proj_in=if_on(inputs.w_hr, steps, batch, hidden),
        saved=saved,
    )
    return gates_x, buffers


def gradient_buffers(saved: LoopSaved) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """The backward loop's per-step gradients: ``d_gates`` ``(T, B, 4H)`` (the gates'
    gradient, also the recurrent term's without ``N_h``), ``d_recurrent`` (``d_gates`` itself
    without ``N_h``), ``d_proj_out`` ``(T, B, P)`` (LSTMP only) and ``d_cell_norm``
    ``(T, B, H)``, the gradient of ``N_c(c'_t)`` (``N_c`` only)."""
    steps, batch, four_h = saved.buffers.gates.shape
    new = saved.buffers.gates.new_empty
    d_gates = new(steps, batch, four_h)
    d_recurrent = new(steps, batch, four_h) if saved.ln_h_gain is not None else d_gates
    d_proj_out = new(steps, batch, saved.buffers.hs.shape[-1]) if saved.w_hr is not None else None
    d_cell_norm = new(steps, batch, four_h // 4) if saved.ln_c_gain is not None else None
    return d_gates, d_recurrent, d_proj_out, d_cell_norm


def finish_backward(
    d_gates: Tensor,
    d_recurrent: Tensor,
    d_proj_out: Tensor | None,
    d_h0: Tensor,
    d_c0: Tensor,
    d_cell_norm: Tensor | None,
    saved: LoopSaved,
) -> LoopGradients:
    """The part of the backward loop after the time loop, shared with the Triton backend
    (the buffers of :func:`gradient_buffers`, filled): ``N_x``'s backward over all steps at
    once and the small parameters' gradients summed over ``(t, b)``."""
    ln_x_gain, ln_h_gain, buffers = saved.ln_x_gain, saved.ln_h_gain, saved.buffers
    d_input, d_ln_x_gain = d_gates, None
    if ln_x_gain is not None:
        mean_x, rstd_x = buffers.mean_x.unsqueeze(-1), buffers.rstd_x.unsqueeze(-1)
        xhat_x = (saved.input_term - mean_x) * rstd_x
        d_ln_x_gain = _sum_rows(d_gates * xhat_x)
        d_input = _normalise_backward(d_gates * ln_x_gain, xhat_x, buffers.rstd_x)
    normalised = ln_x_gain is not None or ln_h_gain is not None
    d_ln_c = (None, None)
    if d_cell_norm is not None:
        d_ln_c = (_sum_rows(d_cell_norm * buffers.xhat_c), _sum_rows(d_cell_norm))
    return LoopGradients(
        d_input,
        d_recurrent,
        d_proj_out,
        d_h0,
        d_c0,
        _sum_rows(d_gates) if normalised else None,
        d_ln_x_gain,
        _sum_rows(d_gates * buffers.xhat_h) if ln_h_gain is not None else None,
        *d_ln_c,
        _peephole_gradient(d_gates, buffers.cs, buffers.cell)
        if saved.peephole is not None
        else None,
    )


def normalise_input_term(
    gates_x: Tensor, gain: Tensor, bias: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """``(N_x(gates_x), mean_x, rstd_x)``: the input term's layer norm for all steps at once,
    ``(T, B, 4H)``, and its statistics ``(T, B)``."""
    xhat_x, mean_x, rstd_x = _normalise(gates_x)
    return torch.addcmul(bias, xhat_x, gain), mean_x, rstd_x


def needs_cell(inputs: LoopInputs) -> bool:
    """The output peephole's gradient needs ``c'_t``, which ``cs[1:]`` only holds without
    cell zoneout and padding."""
    return inputs.peephole is not None and (inputs.zoneout_c is not None or inputs.mask is not None)


def _normalise(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Layer norm without affine part over the last dim: ``(xhat, mean, rstd)`` with
    ``xhat = (x - mean) * rstd``."""
    var, mean = torch.var_mean(x, dim=-1, correction=0, keepdim=True)
    rstd = torch.rsqrt(var + LAYER_NORM_EPS)
    return (x - mean) * rstd, mean.squeeze(-1), rstd.squeeze(-1)


def _normalise_backward(d_xhat: Tensor, xhat: Tensor, rstd: Tensor) -> Tensor:
    """``dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))`` over the last dim."""
    mean_d = d_xhat.mean(-1, keepdim=True)
    mean_dx = (d_xhat * xhat).mean(-1, keepdim=True)
    return rstd.unsqueeze(-1) * (d_xhat - mean_d - xhat * mean_dx)


def _peephole_gradient(d_gates: Tensor, cs: Tensor, cell: Tensor | None) -> Tensor:
    """``(3, H)``: input and forget peepholes see ``c_{t-1}``, the output peephole ``c'_t``."""
    d_i, d_f, _, d_o = d_gates.chunk(4, dim=-1)
    c_prev = cs[:-1]
    c_new = cs[1:] if cell is None else cell
    return torch.stack([_sum_rows(d_i * c_prev), _sum_rows(d_f * c_prev), _sum_rows(d_o * c_new)])


def _sum_rows(x: Tensor) -> Tensor:
    return x.sum(dim=(0, 1))


def _accumulate(total: Tensor | None, term: Tensor) -> Tensor:
    return term if total is None else total + term


def _at_step(zoneout: Tensor, t: int) -> Tensor:
    """Step ``t`` of per-step zoneout samples; a 0-dim probability applies to every step."""
    return zoneout if zoneout.dim() == 0 else zoneout[t]
