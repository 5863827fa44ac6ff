"""Reference single-layer, single-direction LSTM recurrence: a plain autograd loop.

This is the specification every fast path must match (tests compare outputs and
gradients against it). It is deliberately simple and slow; never dispatch to it
for training.

The recurrence, for one layer and one direction, at step ``t``::

    a_t   = gx_t + N_h(W_hh (h_{t-1} * r))            r: recurrent dropout mask
    i, f, g, o = split(a_t, 4)                       (PyTorch's gate order)
    i     = sigma(i + p_i * c_{t-1})                  peephole terms optional
    f     = sigma(f + p_f * c_{t-1})
    g     = tanh(g)
    c'_t  = f * c_{t-1} + i * g
    o     = sigma(o + p_o * c'_t)
    h'_t  = o * tanh(N_c(c'_t))
    h'_t  = W_hr h'_t                                 projection (LSTMP) optional
    c_t   = z^c_t * c_{t-1} + (1 - z^c_t) * c'_t      zoneout optional
    h_t   = z^h_t * h_{t-1} + (1 - z^h_t) * h'_t

``gx_t`` holds the input contributions for all steps, computed outside the loop in
one GEMM (``x W_ih^T + b_ih + b_hh``, layer-normalised on the input part when layer
norm is on). ``N_h`` and ``N_c`` are layer norms with gain and bias (Ba et al. 2016)
or the identity. Where ``mask[t, b] == 0`` (padding) the state is carried through
unchanged and the output is zero. With ``return_gates`` the loop also records
``sigma(i), sigma(f), tanh(g), sigma(o)`` and ``c_t`` of every step (a
:class:`~lstmkit.gate_trace.GateTrace`, zero at padding).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TypedDict, Unpack

import torch
import torch.nn.functional as F
from torch import Tensor

from lstmkit.gate_trace import GateTrace

LayerNormParams = tuple[Tensor, Tensor]


class VariantTensors(TypedDict, total=False):
    """The optional inputs of a layer function, passed by keyword: the variants' parameters,
    their samples for this call and the padding mask. A variant left out, or ``None``, is off.

    Both layer functions take them (:func:`reference_lstm_layer` and
    :func:`lstmkit.kernels.lstm_layer`); the module docstring gives the equations. Shapes:
    ``T`` steps, batch ``B``, hidden ``H``, ``P`` the output and recurrent width
    (``proj_size``, else ``H``).
    """

    ln_h: LayerNormParams | None
    """``(gain, bias)``, each ``(4H,)``: ``N_h``, layer norm on the recurrent term."""
    ln_c: LayerNormParams | None
    """``(gain, bias)``, each ``(H,)``: ``N_c``, layer norm on the cell before ``tanh``."""
    peephole: Tensor | None
    """``(3, H)`` peephole weights ``p_i, p_f, p_o``."""
    w_hr: Tensor | None
    """``(P, H)`` projection weights (LSTMP)."""
    rd_mask: Tensor | None
    """``(B, P)`` recurrent dropout mask ``r``, already scaled by ``1 / (1 - p)``."""
    zoneout_h: Tensor | None
    """Weight ``z^h`` of the previous hidden state: ``(T, B, P)`` Bernoulli samples in
    training, or a 0-dim tensor holding the zoneout probability in evaluation."""
    zoneout_c: Tensor | None
    """The same for the cell state, ``z^c``: ``(T, B, H)`` or 0-dim."""
    mask: Tensor | None
    """``(T, B)``: 1 for real steps, 0 for padding."""


VARIANT_NAMES = tuple(VariantTensors.__annotations__)


def check_variant_names(function: Callable[..., object], variants: Mapping[str, object]) -> None:
    """Reject a keyword in ``variants`` that :class:`VariantTensors` does not name: a layer
    function's ``**variants`` would otherwise take a misspelt variant and silently leave it
    off."""
    for name in variants:
        if name not in VARIANT_NAMES:
            own = [
                p.name
                for p in inspect.signature(function).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY
            ]
            raise TypeError(
                f"{function.__name__}() got an unexpected keyword argument {name!r}; its "
                f"keyword arguments are {', '.join([*own, *VARIANT_NAMES])}"
            )


def reference_lstm_layer(
    gates_x: Tensor,
    w_hh: Tensor,
    h0: Tensor,
    c0: Tensor,
    *,
    return_gates: bool = False,
    **variants: Unpack[VariantTensors],
) -> tuple[Tensor, Tensor, Tensor] | tuple[Tensor, Tensor, Tensor, GateTrace]:
    """Run the LSTM recurrence over a whole sequence.

    Args:
        gates_x: ``(T, B, 4H)`` input contributions to the gates, biases included.
        w_hh: ``(4H, P)`` recurrent weights; ``P`` is ``proj_size`` or ``H``.
        h0: ``(B, P)`` initial hidden state.
        c0: ``(B, H)`` initial cell state.
        return_gates: also return the :class:`~lstmkit.gate_trace.GateTrace` of the run,
            each field ``(T, B, H)``.
        **variants: the variants that are on and the padding mask, by the names and with
            the shapes of :class:`VariantTensors`.

    Returns:
        ``(out, h_n, c_n)`` with shapes ``(T, B, P)``, ``(B, P)``, ``(B, H)``, then the
        trace with ``return_gates``.

    Raises:
        TypeError: a keyword that is not a variant's.
    """
    check_variant_names(reference_lstm_layer, variants)
    ln_h, ln_c = variants.get("ln_h"), variants.get("ln_c")
    peephole, w_hr = variants.get("peephole"), variants.get("w_hr")
    rd_mask, mask = variants.get("rd_mask"), variants.get("mask")
    zoneout_h, zoneout_c = variants.get("zoneout_h"), variants.get("zoneout_c")
    hidden = c0.shape[-1]
    h, c = h0, c0
    outputs = []
    steps = []
    for t in range(gates_x.shape[0]):
        h_in = h if rd_mask is None else h * rd_mask
        gh = h_in @ w_hh.t()
        if ln_h is not None:
            gh = F.layer_norm(gh, (4 * hidden,), ln_h[0], ln_h[1])
        i, f, g, o = (gates_x[t] + gh).chunk(4, dim=-1)
        if peephole is not None:
            i = i + peephole[0] * c
            f = f + peephole[1] * c
        i, f, g = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g)
        c_new = f * c + i * g
        if peephole is not None:
            o = o + peephole[2] * c_new
        o = torch.sigmoid(o)
        c_out = c_new if ln_c is None else F.layer_norm(c_new, (hidden,), ln_c[0], ln_c[1])
        h_new = o * torch.tanh(c_out)
        if w_hr is not None:
            h_new = h_new @ w_hr.t()
        if zoneout_c is not None:
            z = _at_step(zoneout_c, t)
            c_new = z * c + (1 - z) * c_new
        if zoneout_h is not None:
            z = _at_step(zoneout_h, t)
            h_new = z * h + (1 - z) * h_new
        if mask is not None:
            m = mask[t].unsqueeze(-1).to(h_new.dtype)
            h_new = m * h_new + (1 - m) * h
            c_new = m * c_new + (1 - m) * c
            outputs.append(h_new * m)
        else:
            m = None
            outputs.append(h_new)
        if return_gates:
            steps.append([v if m is None else v * m for v in (i, f, g, o, c_new)])
        h, c = h_new, c_new
    if return_gates:
        trace = GateTrace(*(torch.stack(values) for values in zip(*steps, strict=True)))
        return torch.stack(outputs), h, c, trace
    return torch.stack(outputs), h, c


def _at_step(zoneout: Tensor, t: int) -> Tensor:
    """Step ``t`` of per-step zoneout samples; a 0-dim probability applies to every step."""
    return zoneout if zoneout.dim() == 0 else zoneout[t]
