"""Time loops of lstmkit's LSTM layer as persistent Triton kernels (CUDA, or the interpreter).

A backend of :mod:`lstmkit.kernels.interface` (see there for the buffers), with the
equations of :mod:`lstmkit.kernels.python_kernels`: ``forward_loop`` and ``backward_loop`` each
launch ONE kernel that runs the whole time loop. Each program owns ``BLOCK_B`` rows of the batch and every hidden unit of
them. A row's recurrence never reads another row, so the programs run independently, with
no grid-wide synchronisation; inside a program a step is a few passes over tiles of the
hidden width, separated by barriers (``tl.debug_barrier``, which also orders the program's
own global-memory writes and reads)::

    forward, step t                           backward, step t (reverse)
    1. N_h only: r = h_in W_hh^T, its stats   1. dh += dy_t; padding, zoneout; LSTMP: dh W_hr
    2. gates, c'_t, c_t (and h'_t w/o N_c)    2. N_c only: stats of dN_c
    3. N_c only: tanh(N_c(c'_t)), h'_t        3. gate gradients, dc_{t-1}; N_h: stats
    4. LSTMP only: h'_t W_hr^T                4. N_h only: d(W_hh h_in) = N_h backward
    then zoneout and padding of h             5. dh_{t-1} = d(W_hh h_in) W_hh (* r)

The per-step GEMMs are ``tl.dot`` over ``BLOCK_K``-wide slices with the weights read from
global memory (L2-resident after the first step). Arithmetic (``ACC``) is float32 whatever
the storage dtype (float64 for the interpreter's float64 inputs); the buffers keep the
input's dtype (as in the PyTorch loops) and the backward pass carries ``dh``, ``dc`` in
``ACC``. Layer-norm statistics are ``ACC`` too and combine tiles with Chan's parallel
variance formula. The input term's layer norm ``N_x`` and the reductions of
the small parameters' gradients run outside the loop, with the PyTorch loops' code.

Float64 inputs (see :data:`DTYPES`) and buffers of 2^31 or more elements run on
:mod:`lstmkit.kernels.python_kernels`.

With ``TRITON_INTERPRET=1`` in the environment *before triton is first imported* (``triton.jit``
decides at decoration time, also for triton's own library) the kernels run on CPU tensors,
which is how the tests check them without a GPU. Two limits of the interpreter shape the
code: every assignment inside a kernel becomes a tensor and ``range()`` cannot take a tensor
bound (numpy >= 2.4), so the time loops are ``while`` loops and the tile loops' bounds are
``constexpr`` widths written out in the ``range()`` call; and its ``tl.dot`` mishandles
bfloat16 operands, so there the GEMM operands are widened to float32 (exact for bfloat16
values).
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl
from torch import Tensor

from lstmkit.kernels import python_kernels
from lstmkit.kernels.interface import ForwardBuffers, LoopGradients, LoopInputs, LoopSaved
from lstmkit.kernels.python_kernels import LAYER_NORM_EPS

INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
# Float64 only under the interpreter, where it lets the tests check the kernels' algebra to
# 1e-10; compiled, it keeps the PyTorch loops.
DTYPES = (torch.float32, torch.bfloat16, torch.float16) + ((torch.float64,) if INTERPRETED else ())
BLOCK_B = 16  # tl.dot needs at least 16 rows
BLOCK_K = 32
# Zoneout modes: off, one probability for every step (evaluation), per-step samples.
ZONEOUT_OFF, ZONEOUT_SCALAR, ZONEOUT_STEPS = 0, 1, 2


@triton.jit
def _columns(start, BLOCK: tl.constexpr, size, row_ok):
    """Columns ``start .. start + BLOCK`` of a row block: indices, in-range flags, tile mask."""
    cols = start + tl.arange(0, BLOCK)
    col_ok = cols < size
    return cols, col_ok, row_ok[:, None] & col_ok[None, :]


@triton.jit
def _load(pointers, mask, ACC: tl.constexpr):
    """Masked load (0 outside ``mask``) widened to the arithmetic type."""
    return tl.load(pointers, mask=mask, other=0.0).to(ACC)


@triton.jit
def _store(pointers, value, mask):
    """Masked store, rounded to the buffer's type."""
    tl.store(pointers, value.to(pointers.dtype.element_ty), mask=mask)


@triton.jit
def _matmul_tile(
    a_ptr, a_stride, rows, row_ok, scale_ptr, HAS_SCALE: tl.constexpr,
    w_ptr, w_stride_n, w_stride_k, cols, col_ok, depth,
    BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    DOT_DTYPE: tl.constexpr, PRECISION: tl.constexpr, ACC: tl.constexpr,
):  # fmt: skip
    """``(A * s)[rows, :depth] @ W[:depth, cols]`` with ``W[k, n]`` at
    ``w_ptr + n * w_stride_n + k * w_stride_k``; ``s`` (same layout as ``A``) optional."""
    acc = tl.zeros((BLOCK_B, BLOCK_N), dtype=ACC)
    for k0 in range(0, depth, BLOCK_K):
        ks = k0 + tl.arange(0, BLOCK_K)
        k_ok = ks < depth
        a_mask = row_ok[:, None] & k_ok[None, :]
        a_offsets = rows[:, None] * a_stride + ks[None, :]
        a = _load(a_ptr + a_offsets, a_mask, ACC)
        if HAS_SCALE:
            a *= _load(scale_ptr + a_offsets, a_mask, ACC)
        w_offsets = cols[None, :] * w_stride_n + ks[:, None] * w_stride_k
        w = tl.load(w_ptr + w_offsets, mask=k_ok[:, None] & col_ok[None, :], other=0.0)
        acc += tl.dot(a.to(DOT_DTYPE), w.to(DOT_DTYPE), input_precision=PRECISION, out_dtype=ACC)
    return acc


@triton.jit
def _combine_stats(count, mean, m2, x, x_ok, tile_count):
    """Chan et al.'s update of per-row ``(mean, sum of squared deviations)`` over ``count``
    columns by a tile of ``tile_count`` more."""
    x = tl.where(x_ok, x, 0.0)
    tile_mean = tl.sum(x, axis=1) / tile_count
    deviation = tl.where(x_ok, x - tile_mean[:, None], 0.0)
    tile_m2 = tl.sum(deviation * deviation, axis=1)
    total = count + tile_count
    delta = tile_mean - mean
    mean += delta * (tile_count / total)
    m2 += tile_m2 + delta * delta * (count * tile_count / total)
    return mean, m2


@triton.jit
def _sigmoid(x):
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def _tanh(x):
    # 2 sigma(2x) - 1, stable at both ends (tl has no tanh outside libdevice)
    return 2.0 / (1.0 + tl.exp(-2.0 * x)) - 1.0


@triton.jit
def _zoneout(z_ptr, offsets, tile_mask, MODE: tl.constexpr, ACC: tl.constexpr):
    """The zoneout weight of the previous state at ``offsets`` of a ``(T, B, N)`` tensor."""
    return _load(z_ptr + offsets, tile_mask, ACC) if MODE == 2 else tl.load(z_ptr).to(ACC)


@triton.jit
def _finish_h(
    h_new, t, rows, row_ok, cols, col_ok, batch, width, hs_ptr, out_ptr, zh_ptr, mask_ptr,
    ZH: tl.constexpr, MASK: tl.constexpr, ACC: tl.constexpr,
):  # fmt: skip
    """h_t = lerp(h'_t, h_{t-1}, z^h_t), carried through padding; stores out_t and h_t."""
    tile_mask = row_ok[:, None] & col_ok[None, :]
    offsets = rows[:, None] * width + cols[None, :]
    step = t * batch * width
    h_prev = _load(hs_ptr + step + offsets, tile_mask, ACC)
    if ZH != 0:
        h_new += _zoneout(zh_ptr, step + offsets, tile_mask, ZH, ACC) * (h_prev - h_new)
    y = h_new
    if MASK:
        m = _load(mask_ptr + t * batch + rows, row_ok, ACC)[:, None]
        h_new = h_prev + m * (h_new - h_prev)
        y = h_new * m
    _store(out_ptr + step + offsets, y, tile_mask)
    _store(hs_ptr + step + batch * width + offsets, h_new, tile_mask)


@triton.jit
def _hidden_tile(
    tanh_c, s_o, t, rows, row_ok, cols, col_ok, batch, hidden, width,
    tanh_c_ptr, proj_in_ptr, hs_ptr, out_ptr, zh_ptr, mask_ptr,
    PROJ: tl.constexpr, ZH: tl.constexpr, MASK: tl.constexpr, ACC: tl.constexpr,
):  # fmt: skip
    """Stores ``tanh(N_c(c'_t))`` and h'_t = o * tanh(N_c(c'_t)): as the projection's input
    (LSTMP), else finished as h_t."""
    tile_mask = row_ok[:, None] & col_ok[None, :]
    offsets = t * batch * hidden + rows[:, None] * hidden + cols[None, :]
    _store(tanh_c_ptr + offsets, tanh_c, tile_mask)
    if PROJ:
        _store(proj_in_ptr + offsets, s_o * tanh_c, tile_mask)
    else:
        _finish_h(
            s_o * tanh_c, t, rows, row_ok, cols, col_ok, batch, width, hs_ptr, out_ptr,
            zh_ptr, mask_ptr, ZH, MASK, ACC,
        )  # fmt: skip


@triton.jit
def _forward_kernel(
    gx_ptr, w_hh_ptr, hs_ptr, cs_ptr, out_ptr, gates_ptr, cell_ptr, tanh_c_ptr, proj_in_ptr,
    xhat_h_ptr, rstd_h_ptr, xhat_c_ptr, rstd_c_ptr,
    ln_h_gain_ptr, ln_h_bias_ptr, ln_c_gain_ptr, ln_c_bias_ptr, peephole_ptr, w_hr_ptr,
    rd_ptr, zh_ptr, zc_ptr, mask_ptr,
    steps, batch, eps, hidden: tl.constexpr, width: tl.constexpr,
    LN_H: tl.constexpr, LN_C: tl.constexpr, PEEPHOLE: tl.constexpr, PROJ: tl.constexpr,
    RD: tl.constexpr, ZH: tl.constexpr, ZC: tl.constexpr, MASK: tl.constexpr,
    STORE_CELL: tl.constexpr,
    BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_K: tl.constexpr,
    DOT_DTYPE: tl.constexpr, PRECISION: tl.constexpr, ACC: tl.constexpr,
):  # fmt: skip
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    row_ok = rows < batch
    four_h = 4 * hidden
    t = 0
    while t < steps:  # not range(): the interpreter cannot iterate to a runtime bound
        h_prev_ptr = hs_ptr + t * batch * width
        gx_step = t * batch * four_h
        # 1. N_h: r = W_hh h_in into xhat_h[t] and its per-row mean and variance.
        if LN_H:
            mean = tl.zeros((BLOCK_B,), dtype=ACC)
            m2 = tl.zeros((BLOCK_B,), dtype=ACC)
            for n0 in range(0, 4 * hidden, BLOCK_H):
                cols, col_ok, tile_mask = _columns(n0, BLOCK_H, four_h, row_ok)
                r = _matmul_tile(
                    h_prev_ptr, width, rows, row_ok, rd_ptr, RD,
                    w_hh_ptr, width, 1, cols, col_ok, width,
                    BLOCK_B, BLOCK_H, BLOCK_K, DOT_DTYPE, PRECISION, ACC,
                )  # fmt: skip
                _store(xhat_h_ptr + gx_step + rows[:, None] * four_h + cols[None, :], r, tile_mask)
                tile_count = tl.minimum(four_h - n0, BLOCK_H).to(ACC)
                mean, m2 = _combine_stats(n0 * 1.0, mean, m2, r, tile_mask, tile_count)
            rstd_h = 1.0 / tl.sqrt(m2 / four_h + eps)
            mean_h = mean
            _store(rstd_h_ptr + t * batch + rows, rstd_h, row_ok)
            tl.debug_barrier()
        # 2. Gates and c'_t, tile by tile over the hidden units.
        if LN_C:
            mean_c = tl.zeros((BLOCK_B,), dtype=ACC)
            m2_c = tl.zeros((BLOCK_B,), dtype=ACC)
        for j0 in range(0, hidden, BLOCK_H):
            cols, col_ok, tile_mask = _columns(j0, BLOCK_H, hidden, row_ok)
            h_offsets = rows[:, None] * hidden + cols[None, :]
            g_offsets = gx_step + rows[:, None] * four_h + cols[None, :]
            # a_t = gx_t + N_h(W_hh h_in), one (BLOCK_B, BLOCK_H) tile per gate
            for gate in tl.static_range(4):
                offsets = g_offsets + gate * hidden
                a = _load(gx_ptr + offsets, tile_mask, ACC)
                if LN_H:
                    r = _load(xhat_h_ptr + offsets, tile_mask, ACC)
                    xh = (r - mean_h[:, None]) * rstd_h[:, None]
                    _store(xhat_h_ptr + offsets, xh, tile_mask)
                    gain = _load(ln_h_gain_ptr + gate * hidden + cols, col_ok, ACC)
                    bias = _load(ln_h_bias_ptr + gate * hidden + cols, col_ok, ACC)
                    a += xh * gain[None, :] + bias[None, :]
                else:
                    a += _matmul_tile(
                        h_prev_ptr, width, rows, row_ok, rd_ptr, RD, w_hh_ptr, width, 1,
                        cols + gate * hidden, col_ok, width,
                        BLOCK_B, BLOCK_H, BLOCK_K, DOT_DTYPE, PRECISION, ACC,
                    )  # fmt: skip
                if gate == 0:
                    a_i = a
                elif gate == 1:
                    a_f = a
                elif gate == 2:
                    a_g = a
                else:
                    a_o = a
            c_step = t * batch * hidden
            c = _load(cs_ptr + c_step + h_offsets, tile_mask, ACC)
            if PEEPHOLE:
                p_i = _load(peephole_ptr + cols, col_ok, ACC)
                p_f = _load(peephole_ptr + hidden + cols, col_ok, ACC)
                a_i += p_i[None, :] * c
                a_f += p_f[None, :] * c
            s_i = _sigmoid(a_i)
            s_f = _sigmoid(a_f)
            t_g = _tanh(a_g)
            # c'_t = f * c_{t-1} + i * g
            c_new = s_f * c + s_i * t_g
            if STORE_CELL:
                _store(cell_ptr + c_step + h_offsets, c_new, tile_mask)
            if PEEPHOLE:
                p_o = tl.load(peephole_ptr + 2 * hidden + cols, mask=col_ok, other=0.0)
                a_o += p_o.to(ACC)[None, :] * c_new
            s_o = _sigmoid(a_o)
            _store(gates_ptr + g_offsets, s_i, tile_mask)
            _store(gates_ptr + g_offsets + hidden, s_f, tile_mask)
            _store(gates_ptr + g_offsets + 2 * hidden, t_g, tile_mask)
            _store(gates_ptr + g_offsets + 3 * hidden, s_o, tile_mask)
            if LN_C:
                _store(xhat_c_ptr + c_step + h_offsets, c_new, tile_mask)
                tile_count = tl.minimum(hidden - j0, BLOCK_H).to(ACC)
                mean_c, m2_c = _combine_stats(j0 * 1.0, mean_c, m2_c, c_new, tile_mask, tile_count)
            else:
                _hidden_tile(
                    _tanh(c_new), s_o, t, rows, row_ok, cols, col_ok, batch, hidden, width,
                    tanh_c_ptr, proj_in_ptr, hs_ptr, out_ptr, zh_ptr, mask_ptr,
                    PROJ, ZH, MASK, ACC,
                )  # fmt: skip
            # c_t = lerp(c'_t, c_{t-1}, z^c_t), carried through padding
            if ZC != 0:
                c_new += _zoneout(zc_ptr, c_step + h_offsets, tile_mask, ZC, ACC) * (c - c_new)
            if MASK:
                m = _load(mask_ptr + t * batch + rows, row_ok, ACC)
                c_new = c + m[:, None] * (c_new - c)
            _store(cs_ptr + c_step + batch * hidden + h_offsets, c_new, tile_mask)
        # 3. N_c: h'_t = o * tanh(N_c(c'_t)) once c'_t's statistics are complete.
        if LN_C:
            rstd_c = 1.0 / tl.sqrt(m2_c / hidden + eps)
            _store(rstd_c_ptr + t * batch + rows, rstd_c, row_ok)
            tl.debug_barrier()
            for j0 in range(0, hidden, BLOCK_H):
                cols, col_ok, tile_mask = _columns(j0, BLOCK_H, hidden, row_ok)
                h_offsets = t * batch * hidden + rows[:, None] * hidden + cols[None, :]
                c_new = _load(xhat_c_ptr + h_offsets, tile_mask, ACC)
                xc = (c_new - mean_c[:, None]) * rstd_c[:, None]
                _store(xhat_c_ptr + h_offsets, xc, tile_mask)
                gain = _load(ln_c_gain_ptr + cols, col_ok, ACC)
                bias = _load(ln_c_bias_ptr + cols, col_ok, ACC)
                o_offsets = t * batch * four_h + rows[:, None] * four_h + 3 * hidden + cols[None, :]
                s_o = _load(gates_ptr + o_offsets, tile_mask, ACC)
                _hidden_tile(
                    _tanh(xc * gain[None, :] + bias[None, :]), s_o,
                    t, rows, row_ok, cols, col_ok, batch, hidden, width,
                    tanh_c_ptr, proj_in_ptr, hs_ptr, out_ptr, zh_ptr, mask_ptr,
                    PROJ, ZH, MASK, ACC,
                )  # fmt: skip
        # 4. LSTMP: h'_t = W_hr (o * tanh(N_c(c'_t))).
        if PROJ:
            tl.debug_barrier()
            for p0 in range(0, width, BLOCK_P):
                cols, col_ok, tile_mask = _columns(p0, BLOCK_P, width, row_ok)
                h_new = _matmul_tile(
                    proj_in_ptr + t * batch * hidden, hidden, rows, row_ok, rd_ptr, False,
                    w_hr_ptr, hidden, 1, cols, col_ok, hidden,
                    BLOCK_B, BLOCK_P, BLOCK_K, DOT_DTYPE, PRECISION, ACC,
                )  # fmt: skip
                _finish_h(
                    h_new, t, rows, row_ok, cols, col_ok, batch, width, hs_ptr, out_ptr,
                    zh_ptr, mask_ptr, ZH, MASK, ACC,
                )  # fmt: skip
        tl.debug_barrier()
        t += 1


@triton.jit
def _backward_kernel(
    grad_out_ptr, hs_ptr, cs_ptr, gates_ptr, tanh_c_ptr, xhat_h_ptr, rstd_h_ptr,
    xhat_c_ptr, rstd_c_ptr, w_hh_ptr, ln_h_gain_ptr, ln_c_gain_ptr, peephole_ptr, w_hr_ptr,
    rd_ptr, zh_ptr, zc_ptr, mask_ptr,
    d_gates_ptr, d_recurrent_ptr, d_proj_out_ptr, d_cell_norm_ptr,
    dh_ptr, dc_ptr, dh_prev_ptr, dh_cell_ptr,
    steps, batch, hidden: tl.constexpr, width: tl.constexpr,
    LN_H: tl.constexpr, LN_C: tl.constexpr, PEEPHOLE: tl.constexpr, PROJ: tl.constexpr,
    RD: tl.constexpr, ZH: tl.constexpr, ZC: tl.constexpr, MASK: tl.constexpr,
    BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_K: tl.constexpr,
    DOT_DTYPE: tl.constexpr, PRECISION: tl.constexpr, ACC: tl.constexpr,
):  # fmt: skip
    """``dh_ptr`` ``(B, P)`` and ``dc_ptr`` ``(B, H)`` (float32) hold dL/dh_T, dL/dc_T on
    entry and dL/dh_0, dL/dc_0 on exit; ``dh_prev_ptr`` ``(B, P)`` (float32) is scratch and
    ``dh_cell_ptr`` ``(B, H)`` (float32) receives the gradient of ``o * tanh(N_c(c'_t))``:
    scratch for LSTMP, else ``dh_ptr`` itself."""
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    row_ok = rows < batch
    four_h = 4 * hidden
    t = steps - 1
    while t >= 0:
        if MASK:
            m = _load(mask_ptr + t * batch + rows, row_ok, ACC)[:, None]
        # 1. dh += dy_t; padding carries it to h_{t-1}, zoneout splits it.
        for p0 in range(0, width, BLOCK_P):
            cols, _, tile_mask = _columns(p0, BLOCK_P, width, row_ok)
            offsets = rows[:, None] * width + cols[None, :]
            step_offsets = t * batch * width + offsets
            dy = _load(grad_out_ptr + step_offsets, tile_mask, ACC)
            dh = tl.load(dh_ptr + offsets, mask=tile_mask, other=0.0)
            dh_prev = tl.zeros((BLOCK_B, BLOCK_P), dtype=ACC)
            if MASK:
                dh += dy * m
                dh_prev = dh * (1.0 - m)
                dh *= m
            else:
                dh += dy
            if ZH != 0:
                z = _zoneout(zh_ptr, step_offsets, tile_mask, ZH, ACC)
                dh_prev += dh * z
                dh *= 1.0 - z
            tl.store(dh_prev_ptr + offsets, dh_prev, mask=tile_mask)
            tl.store(dh_ptr + offsets, dh, mask=tile_mask)
            if PROJ:
                _store(d_proj_out_ptr + step_offsets, dh, tile_mask)
        tl.debug_barrier()
        if PROJ:  # dh'_t = dh_t W_hr
            for j0 in range(0, hidden, BLOCK_H):
                cols, col_ok, tile_mask = _columns(j0, BLOCK_H, hidden, row_ok)
                d_cell_h = _matmul_tile(
                    dh_ptr, width, rows, row_ok, rd_ptr, False,
                    w_hr_ptr, 1, hidden, cols, col_ok, width,
                    BLOCK_B, BLOCK_H, BLOCK_K, DOT_DTYPE, PRECISION, ACC,
                )  # fmt: skip
                tl.store(
                    dh_cell_ptr + rows[:, None] * hidden + cols[None, :],
                    d_cell_h,
                    mask=row_ok[:, None] & col_ok[None, :],
                )
            tl.debug_barrier()
        # 2. N_c: the means of dN_c * gain and of dN_c * gain * xhat_c over the H units.
        if LN_C:
            sum_d = tl.zeros((BLOCK_B,), dtype=ACC)
            sum_dx = tl.zeros((BLOCK_B,), dtype=ACC)
            for j0 in range(0, hidden, BLOCK_H):
                cols, col_ok, tile_mask = _columns(j0, BLOCK_H, hidden, row_ok)
                offsets = t * batch * hidden + rows[:, None] * hidden + cols[None, :]
                o_offsets = t * batch * four_h + rows[:, None] * four_h + 3 * hidden + cols[None, :]
                dh = tl.load(
                    dh_cell_ptr + rows[:, None] * hidden + cols[None, :], mask=tile_mask, other=0.0
                )
                s_o = _load(gates_ptr + o_offsets, tile_mask, ACC)
                tc = _load(tanh_c_ptr + offsets, tile_mask, ACC)
                d_norm = dh * s_o * (1.0 - tc * tc)
                _store(d_cell_norm_ptr + offsets, d_norm, tile_mask)
                gain = _load(ln_c_gain_ptr + cols, col_ok, ACC)
                xc = _load(xhat_c_ptr + offsets, tile_mask, ACC)
                d_xhat = d_norm * gain[None, :]
                sum_d += tl.sum(d_xhat, axis=1)
                sum_dx += tl.sum(d_xhat * xc, axis=1)
            mean_d_c = sum_d / hidden
            mean_dx_c = sum_dx / hidden
            rstd_c = _load(rstd_c_ptr + t * batch + rows, row_ok, ACC)
        # 3. Gate gradients and dc_{t-1}.
        if LN_H:
            sum_d_h = tl.zeros((BLOCK_B,), dtype=ACC)
            sum_dx_h = tl.zeros((BLOCK_B,), dtype=ACC)
        for j0 in range(0, hidden, BLOCK_H):
            cols, col_ok, tile_mask = _columns(j0, BLOCK_H, hidden, row_ok)
            offsets = rows[:, None] * hidden + cols[None, :]
            step_offsets = t * batch * hidden + offsets
            g_offsets = t * batch * four_h + rows[:, None] * four_h + cols[None, :]
            dh = tl.load(dh_cell_ptr + offsets, mask=tile_mask, other=0.0)
            s_i = _load(gates_ptr + g_offsets, tile_mask, ACC)
            s_f = _load(gates_ptr + g_offsets + hidden, tile_mask, ACC)
            t_g = _load(gates_ptr + g_offsets + 2 * hidden, tile_mask, ACC)
            s_o = _load(gates_ptr + g_offsets + 3 * hidden, tile_mask, ACC)
            tc = _load(tanh_c_ptr + step_offsets, tile_mask, ACC)
            d_norm = dh * s_o * (1.0 - tc * tc)
            if LN_C:  # dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
                gain = _load(ln_c_gain_ptr + cols, col_ok, ACC)
                xc = _load(xhat_c_ptr + step_offsets, tile_mask, ACC)
                d_norm = rstd_c[:, None] * (
                    d_norm * gain[None, :] - mean_d_c[:, None] - xc * mean_dx_c[:, None]
                )
            dc = tl.load(dc_ptr + offsets, mask=tile_mask, other=0.0)
            dc_prev = tl.zeros((BLOCK_B, BLOCK_H), dtype=ACC)
            if MASK:
                dc_prev = dc * (1.0 - m)
                dc *= m
            if ZC != 0:
                z = _zoneout(zc_ptr, step_offsets, tile_mask, ZC, ACC)
                dc_prev += dc * z
                dc *= 1.0 - z
            d_cell = dc + d_norm
            d_o = dh * tc * s_o * (1.0 - s_o)
            if PEEPHOLE:
                p_o = tl.load(peephole_ptr + 2 * hidden + cols, mask=col_ok, other=0.0)
                d_cell += d_o * p_o.to(ACC)[None, :]
            c_prev = _load(cs_ptr + step_offsets, tile_mask, ACC)
            d_i = d_cell * t_g * s_i * (1.0 - s_i)
            d_f = d_cell * c_prev * s_f * (1.0 - s_f)
            d_g = d_cell * s_i * (1.0 - t_g * t_g)
            dc_prev += d_cell * s_f
            if PEEPHOLE:
                p_i = _load(peephole_ptr + cols, col_ok, ACC)
                p_f = _load(peephole_ptr + hidden + cols, col_ok, ACC)
                dc_prev += d_i * p_i[None, :] + d_f * p_f[None, :]
            tl.store(dc_ptr + offsets, dc_prev, mask=tile_mask)
            _store(d_gates_ptr + g_offsets, d_i, tile_mask)
            _store(d_gates_ptr + g_offsets + hidden, d_f, tile_mask)
            _store(d_gates_ptr + g_offsets + 2 * hidden, d_g, tile_mask)
            _store(d_gates_ptr + g_offsets + 3 * hidden, d_o, tile_mask)
            if LN_H:
                for gate in tl.static_range(4):
                    if gate == 0:
                        d_a = d_i
                    elif gate == 1:
                        d_a = d_f
                    elif gate == 2:
                        d_a = d_g
                    else:
                        d_a = d_o
                    gain = tl.load(ln_h_gain_ptr + gate * hidden + cols, mask=col_ok, other=0.0)
                    xh = tl.load(xhat_h_ptr + g_offsets + gate * hidden, mask=tile_mask, other=0.0)
                    d_xhat = d_a.to(d_gates_ptr.dtype.element_ty).to(ACC) * gain.to(ACC)[None, :]
                    sum_d_h += tl.sum(d_xhat, axis=1)
                    sum_dx_h += tl.sum(d_xhat * xh.to(ACC), axis=1)
        tl.debug_barrier()
        # 4. N_h: d(W_hh h_in) from the gate gradients.
        if LN_H:
            mean_d_h = sum_d_h / four_h
            mean_dx_h = sum_dx_h / four_h
            rstd_h = _load(rstd_h_ptr + t * batch + rows, row_ok, ACC)
            for n0 in range(0, 4 * hidden, BLOCK_H):
                cols, col_ok, tile_mask = _columns(n0, BLOCK_H, four_h, row_ok)
                g_offsets = t * batch * four_h + rows[:, None] * four_h + cols[None, :]
                d_a = _load(d_gates_ptr + g_offsets, tile_mask, ACC)
                gain = _load(ln_h_gain_ptr + cols, col_ok, ACC)
                xh = _load(xhat_h_ptr + g_offsets, tile_mask, ACC)
                d_r = rstd_h[:, None] * (
                    d_a * gain[None, :] - mean_d_h[:, None] - xh * mean_dx_h[:, None]
                )
                _store(d_recurrent_ptr + g_offsets, d_r, tile_mask)
            tl.debug_barrier()
        # 5. dh_{t-1} = (d(W_hh h_in) W_hh) * r + what padding and zoneout carried.
        for p0 in range(0, width, BLOCK_P):
            cols, col_ok, tile_mask = _columns(p0, BLOCK_P, width, row_ok)
            offsets = rows[:, None] * width + cols[None, :]
            dh_in = _matmul_tile(
                d_recurrent_ptr + t * batch * four_h, four_h, rows, row_ok, rd_ptr, False,
                w_hh_ptr, 1, width, cols, col_ok, 4 * hidden,
                BLOCK_B, BLOCK_P, BLOCK_K, DOT_DTYPE, PRECISION, ACC,
            )  # fmt: skip
            if RD:
                dh_in *= _load(rd_ptr + offsets, tile_mask, ACC)
            dh_prev = tl.load(dh_prev_ptr + offsets, mask=tile_mask, other=0.0)
            tl.store(dh_ptr + offsets, dh_prev + dh_in, mask=tile_mask)
        tl.debug_barrier()
        t -= 1


def forward_loop(inputs: LoopInputs, keep: bool) -> ForwardBuffers:
    """:func:`lstmkit.kernels.python_kernels.forward_loop` in one kernel launch (every step's
    buffers are kept, whatever ``keep``)."""
    if not _supported(inputs.gates_x, inputs.h0.shape[-1]):
        return python_kernels.forward_loop(inputs, keep)
    _check_device(inputs.gates_x)
    gates_x, buffers = python_kernels.forward_buffers(inputs)
    saved = buffers.saved
    steps, batch, four_h = gates_x.shape
    hidden, width = four_h // 4, inputs.h0.shape[-1]
    pointers = _or_placeholder(
        gates_x, saved.cell, buffers.proj_in, saved.xhat_h, saved.rstd_h, saved.xhat_c,
        saved.rstd_c, inputs.ln_h_gain, inputs.ln_h_bias, inputs.ln_c_gain, inputs.ln_c_bias,
        inputs.peephole, inputs.w_hr, inputs.rd_mask, inputs.zoneout_h, inputs.zoneout_c,
        inputs.mask,
    )  # fmt: skip
    cell_, proj_in_, xhat_h_, rstd_h_, xhat_c_, rstd_c_, *params = pointers
    _launch(
        _forward_kernel, batch, gates_x, inputs.w_hh, saved.hs, saved.cs, buffers.out,
        saved.gates, cell_, saved.tanh_c, proj_in_, xhat_h_, rstd_h_, xhat_c_, rstd_c_,
        *params, steps, batch, LAYER_NORM_EPS, hidden, width,
        **_variant_flags(inputs),
        STORE_CELL=saved.cell is not None,
        **_blocks(hidden, width, gates_x.dtype),
    )  # fmt: skip
    return buffers


def backward_loop(
    grad_out: Tensor, grad_h_n: Tensor, grad_c_n: Tensor, saved: LoopSaved
) -> LoopGradients:
    """:func:`lstmkit.kernels.python_kernels.backward_loop` in one kernel launch (plus the
    reductions of the small parameters' gradients)."""
    buffers = saved.buffers
    gates, hs = buffers.gates, buffers.hs
    if not _supported(gates, hs.shape[-1]):
        return python_kernels.backward_loop(grad_out, grad_h_n, grad_c_n, saved)
    _check_device(gates)
    steps, batch, four_h = gates.shape
    hidden, width = four_h // 4, hs.shape[-1]
    d_gates, d_recurrent, d_proj_out, d_cell_norm = python_kernels.gradient_buffers(saved)
    accumulate = torch.promote_types(gates.dtype, torch.float32)
    dh = grad_h_n.to(accumulate, copy=True)
    dc = grad_c_n.to(accumulate, copy=True)
    dh_prev = torch.empty_like(dh)
    dh_cell = dh.new_empty(batch, hidden) if saved.w_hr is not None else dh
    xhat_h_, rstd_h_, xhat_c_, rstd_c_, ln_h_gain_, ln_c_gain_, *params = _or_placeholder(
        gates, buffers.xhat_h, buffers.rstd_h, buffers.xhat_c, buffers.rstd_c, saved.ln_h_gain,
        saved.ln_c_gain, saved.peephole, saved.w_hr, saved.rd_mask, saved.zoneout_h,
        saved.zoneout_c, saved.mask, d_proj_out, d_cell_norm,
    )  # fmt: skip
    peephole_, w_hr_, rd_mask_, zoneout_h_, zoneout_c_, mask_, d_proj_out_, d_cell_norm_ = params
    _launch(
        _backward_kernel, batch, grad_out, hs, buffers.cs, gates, buffers.tanh_c, xhat_h_, rstd_h_,
        xhat_c_, rstd_c_, saved.w_hh, ln_h_gain_, ln_c_gain_, peephole_, w_hr_, rd_mask_,
        zoneout_h_, zoneout_c_, mask_, d_gates, d_recurrent, d_proj_out_, d_cell_norm_,
        dh, dc, dh_prev, dh_cell, steps, batch, hidden, width,
        **_variant_flags(saved),
        **_blocks(hidden, width, gates.dtype),
    )  # fmt: skip
    return python_kernels.finish_backward(
        d_gates, d_recurrent, d_proj_out, dh.to(grad_h_n.dtype), dc.to(grad_c_n.dtype),
        d_cell_norm, saved,
    )  # fmt: skip


def _supported(gates: Tensor, width: int) -> bool:
    """Whether the kernels take ``(T, B, 4H)`` gates of this dtype: float64 is left to the
    PyTorch loops (see :data:`DTYPES`), and so are buffers too large for the kernels' int32
    offsets."""
    steps, batch, four_h = gates.shape
    return gates.dtype in DTYPES and (steps + 1) * batch * max(four_h, width) < 2**31


def _check_device(x: Tensor) -> None:
    if x.device.type != "cuda" and not INTERPRETED:
        raise RuntimeError(
            f"lstmkit: the Triton LSTM kernels need CUDA tensors, got {x.device.type}; "
            "for CPU tensors set TRITON_INTERPRET=1 before triton is imported "
            "(or use LSTMKIT_KERNEL_BACKEND=auto)"
        )


def _or_placeholder(placeholder: Tensor, *tensors: Tensor | None) -> list[Tensor]:
    """Kernel arguments: absent tensors become ``placeholder`` (never read: their variant's
    flag is off)."""
    return [placeholder if x is None else x for x in tensors]


def _zoneout_mode(zoneout: Tensor | None) -> int:
    if zoneout is None:
        return ZONEOUT_OFF
    return ZONEOUT_SCALAR if zoneout.dim() == 0 else ZONEOUT_STEPS


def _variant_flags(tensors: LoopInputs | LoopSaved) -> dict[str, bool | int]:
    """The kernels' compile-time switches: one specialisation per combination of variants
    (the fields of that name, in either loop's arguments)."""
    return {
        "LN_H": tensors.ln_h_gain is not None,
        "LN_C": tensors.ln_c_gain is not None,
        "PEEPHOLE": tensors.peephole is not None,
        "PROJ": tensors.w_hr is not None,
        "RD": tensors.rd_mask is not None,
        "ZH": _zoneout_mode(tensors.zoneout_h),
        "ZC": _zoneout_mode(tensors.zoneout_c),
        "MASK": tensors.mask is not None,
    }


def _blocks(hidden: int, width: int, dtype: torch.dtype) -> dict:
    """Tile sizes, the GEMM operand type and precision, and the arithmetic type."""

    def block(size: int) -> int:
        return min(64, max(16, triton.next_power_of_2(size)))

    accumulate = tl.float64 if dtype == torch.float64 else tl.float32
    if INTERPRETED:
        dot_dtype, precision = accumulate, "ieee"
    else:
        dot_dtype = {torch.float32: tl.float32, torch.bfloat16: tl.bfloat16}.get(dtype, tl.float16)
        # float32 GEMMs follow torch's TF32 switch, as the PyTorch loops' matmuls do.
        precision = "tf32" if torch.backends.cuda.matmul.allow_tf32 else "ieee"
    return {
        "ACC": accumulate,
        "BLOCK_B": BLOCK_B,
        "BLOCK_H": block(hidden),
        "BLOCK_P": block(width),
        "BLOCK_K": BLOCK_K,
        "DOT_DTYPE": dot_dtype,
        "PRECISION": precision,
    }


def _launch(kernel: triton.JITFunction, batch: int, *args: object, **constants: object) -> None:
    """Runs ``kernel`` with one program per ``BLOCK_B`` rows of the batch."""
    kernel[(triton.cdiv(batch, BLOCK_B),)](*args, **constants)
