"""The interface of lstmkit's time-loop kernels, defined once for every backend.

A backend (the C++ extension :mod:`lstmkit.kernels.cpp_kernels`, the Triton kernels
:mod:`lstmkit.kernels.triton_kernels`, the PyTorch loops :mod:`lstmkit.kernels.python_kernels`)
is a module with the two functions of :class:`LoopKernels`::

    forward_loop(inputs: LoopInputs, keep: bool) -> ForwardBuffers
    backward_loop(grad_out, grad_h_n, grad_c_n, saved: LoopSaved) -> LoopGradients

All tensors have one float dtype and are contiguous, except that without ``keep`` the C++
loops get ``w_hh``, ``w_hr`` and ``w_ih`` as column-major views (their transposes contiguous,
:mod:`lstmkit.kernels.weight_layout`); ``None`` stands for a variant that is off.
Shapes: ``T`` steps, batch ``B``, hidden ``H``, output and recurrent width ``P`` (``proj_size``,
else ``H``). The forward buffers:

* ``out``    ``(T, B, P)``: the layer output, zero at padding
* ``gates``  ``(T, B, 4H)``: activated gates ``sigma(i), sigma(f), tanh(g), sigma(o)``
* ``hs``     ``(T+1, B, P)``: hidden states ``h_0 .. h_T``
* ``cs``     ``(T+1, B, H)``: cell states ``c_0 .. c_T``
* ``cell``   ``(T, B, H)``: the new cell ``c'_t`` before zoneout/padding (only when it differs
  from ``cs[1:]`` and a peephole needs it), else ``None``
* ``tanh_c`` ``(T, B, H)``: ``tanh(N_c(c'_t))``
* ``proj_in`` ``(T, B, H)``: ``o * tanh(N_c(c'_t))``, the projection's input (LSTMP only)
* ``xhat_h, rstd_h`` ``(T, B, 4H), (T, B)``: normalised recurrent term and its inverse std
* ``xhat_c, rstd_c`` ``(T, B, H), (T, B)``: normalised cell and its inverse std
* ``mean_x, rstd_x`` ``(T, B), (T, B)``: statistics of the input term ``x_t W_ih^T`` (its
  normalised value is recomputed in the backward pass)

Without ``keep`` (no backward pass follows) a backend may keep fewer steps of the buffers that
only the backward pass reads: the C++ loops keep one step of them and two slots of ``hs`` and
``cs`` (``hs[-1]``, ``cs[-1]`` are the final states either way).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from torch import Tensor


class LoopInputs(NamedTuple):
    """What the forward time loop reads (see :func:`lstmkit.kernels.lstm_layer` for the
    equations). The fields up to ``w_hr`` can need gradients; the masks and zoneout samples
    after them are constants. With ``w_ih`` (inference only: no backward pass follows)
    ``gates_x`` is the layer input ``x`` ``(T, B, I)`` and the loop computes each step's input
    term ``x_t W_ih^T + input_bias`` itself."""

    gates_x: Tensor  # (T, B, 4H): the input term x W_ih^T with ln_x, else the gate inputs
    w_hh: Tensor  # (4H, P)
    h0: Tensor  # (B, P)
    c0: Tensor  # (B, H)
    ln_x_gain: Tensor | None  # (4H,): N_x, the input term's layer norm
    ln_x_bias: Tensor | None  # (4H,), the gate biases folded in
    ln_h_gain: Tensor | None  # (4H,): N_h, the recurrent term's layer norm
    ln_h_bias: Tensor | None  # (4H,)
    ln_c_gain: Tensor | None  # (H,): N_c, the cell's layer norm
    ln_c_bias: Tensor | None  # (H,)
    peephole: Tensor | None  # (3, H): p_i, p_f, p_o
    w_hr: Tensor | None  # (P, H): the projection (LSTMP)
    rd_mask: Tensor | None = None  # (B, P): recurrent dropout mask, scaled by 1 / (1 - p)
    zoneout_h: Tensor | None = None  # (T, B, P) samples, or a 0-dim probability
    zoneout_c: Tensor | None = None  # (T, B, H) samples, or a 0-dim probability
    mask: Tensor | None = None  # (T, B): 1 at real steps, 0 at padding
    w_ih: Tensor | None = None  # (4H, I): the input weights, when gates_x is the layer input
    input_bias: Tensor | None = None  # (4H,): added to x_t W_ih^T (without ln_x)

    def requires_grad(self) -> bool:
        """Whether any input that can have a gradient requires one."""
        return any(
            x is not None and x.requires_grad
            for name, x in zip(self._fields, self, strict=True)
            if name not in CONSTANT_INPUTS
        )


CONSTANT_INPUTS = ("rd_mask", "zoneout_h", "zoneout_c", "mask")


class SavedBuffers(NamedTuple):
    """The forward buffers the backward time loop reads (shapes in the module docstring)."""

    hs: Tensor
    cs: Tensor
    gates: Tensor
    cell: Tensor | None
    tanh_c: Tensor
    xhat_h: Tensor | None
    rstd_h: Tensor | None
    xhat_c: Tensor | None
    rstd_c: Tensor | None
    mean_x: Tensor | None
    rstd_x: Tensor | None


class ForwardBuffers(NamedTuple):
    """What the forward time loop writes: the output, the projection's input (read by the
    weight gradient after the backward loop) and the buffers the backward loop reads."""

    out: Tensor
    proj_in: Tensor | None
    saved: SavedBuffers


class LoopSaved(NamedTuple):
    """What the backward time loop reads: forward buffers and some of the inputs."""

    input_term: Tensor | None  # gates_x with N_x (its xhat is recomputed from it), else None
    buffers: SavedBuffers
    w_hh: Tensor
    ln_x_gain: Tensor | None
    ln_h_gain: Tensor | None
    ln_c_gain: Tensor | None
    peephole: Tensor | None
    w_hr: Tensor | None
    rd_mask: Tensor | None
    zoneout_h: Tensor | None
    zoneout_c: Tensor | None
    mask: Tensor | None

    @classmethod
    def of(cls, inputs: LoopInputs, buffers: ForwardBuffers) -> LoopSaved:
        """The saved buffers and the fields of ``inputs`` the backward loop reads, by name."""
        input_term = inputs.gates_x if inputs.ln_x_gain is not None else None
        return cls(input_term, buffers.saved, *(getattr(inputs, name) for name in cls._fields[2:]))

    def flat(self) -> tuple[Tensor | None, ...]:
        """The tensors one by one (the buffers' fields in place of ``buffers``): the C++
        backward operator's arguments after the gradients, and what autograd saves."""
        return (self.input_term, *self.buffers, *self[2:])

    @classmethod
    def from_flat(cls, tensors: Sequence[Tensor | None]) -> LoopSaved:
        """The inverse of :meth:`flat`."""
        end = 1 + len(SavedBuffers._fields)
        return cls(tensors[0], SavedBuffers(*tensors[1:end]), *tensors[end:])


class LoopGradients(NamedTuple):
    """What the backward time loop returns. ``d_input`` and ``d_recurrent`` ``(T, B, 4H)``
    are the gradients of ``gates_x`` (the input term before ``N_x`` when it is on) and of the
    recurrent term ``W_hh h_in`` before ``N_h``; ``d_proj_out`` ``(T, B, P)`` that of the
    projection output ``h'_t`` (LSTMP only). The small parameters' gradients are summed over
    all steps (``None`` where off): ``d_gate_shift`` ``(4H,)`` is the shift shared by ``N_x``
    and ``N_h``."""

    d_input: Tensor
    d_recurrent: Tensor
    d_proj_out: Tensor | None
    d_h0: Tensor
    d_c0: Tensor
    d_gate_shift: Tensor | None
    d_ln_x_gain: Tensor | None
    d_ln_h_gain: Tensor | None
    d_ln_c_gain: Tensor | None
    d_ln_c_bias: Tensor | None
    d_peephole: Tensor | None


class LoopKernels(Protocol):
    """A backend: the module that runs the two time loops."""

    def forward_loop(self, inputs: LoopInputs, keep: bool) -> ForwardBuffers:
        """Run the recurrence; ``keep`` says whether a backward pass will read the buffers."""
        ...

    def backward_loop(
        self, grad_out: Tensor, grad_h_n: Tensor, grad_c_n: Tensor, saved: LoopSaved
    ) -> LoopGradients:
        """Back-propagate through the time loop from the gradients of ``out``, ``h_n`` and
        ``c_n``."""
        ...
