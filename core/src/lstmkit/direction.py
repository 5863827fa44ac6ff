"""Parameters of one LSTM layer in one direction: registration, lookup and initialisation.

Names follow ``nn.LSTM`` (``weight_ih{suffix}``, ``weight_hh``, ``bias_ih``, ``bias_hh``,
``weight_hr``) with ``suffix`` such as ``"_l0"`` or ``"_l1_reverse"`` (``""`` in a cell),
so plain weights load from and into ``nn.LSTM``/``nn.LSTMCell``. The variants add::

    ln_weight_ih, ln_bias_ih   (4H,)   layer norm of the input term   x W_ih^T
    ln_weight_hh, ln_bias_hh   (4H,)   layer norm of the recurrent term  h W_hh^T
    ln_weight_c,  ln_bias_c    (H,)    layer norm of the cell before tanh
    weight_peephole            (3, H)  peephole weights p_i, p_f, p_o
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from lstmkit.variants import LayerVariants

LayerNormParams = tuple[Tensor, Tensor]
RECURRENT_INITS = ("uniform", "orthogonal")


class DirectionWeights(NamedTuple):
    """The tensors of one layer-direction; ``None`` where a part is switched off."""

    weight_ih: Tensor
    weight_hh: Tensor
    bias_ih: Tensor | None
    bias_hh: Tensor | None
    weight_hr: Tensor | None
    ln_ih: LayerNormParams | None
    ln_hh: LayerNormParams | None
    ln_c: LayerNormParams | None
    peephole: Tensor | None


def register_direction(
    module: nn.Module,
    suffix: str,
    input_size: int,
    hidden_size: int,
    proj_size: int,
    bias: bool,
    variants: LayerVariants,
    factory: dict,
) -> list[str]:
    """Create the parameters of one layer-direction on ``module``.

    Returns the names of the ``nn.LSTM`` parameters, in ``nn.LSTM``'s order (the order
    of its flat weight list); the variant parameters come after them.
    """
    gate_size = 4 * hidden_size
    state_size = proj_size if proj_size > 0 else hidden_size
    shapes = {"weight_ih": (gate_size, input_size), "weight_hh": (gate_size, state_size)}
    if bias:
        shapes |= {"bias_ih": (gate_size,), "bias_hh": (gate_size,)}
    if proj_size > 0:
        shapes["weight_hr"] = (proj_size, hidden_size)
    core_names = [f"{kind}{suffix}" for kind in shapes]
    if variants.layer_norm:
        for part, size in (("ih", gate_size), ("hh", gate_size), ("c", hidden_size)):
            shapes |= {f"ln_weight_{part}": (size,), f"ln_bias_{part}": (size,)}
    if variants.peephole:
        shapes["weight_peephole"] = (3, hidden_size)
    for kind, shape in shapes.items():
        module.register_parameter(f"{kind}{suffix}", nn.Parameter(torch.empty(shape, **factory)))
    return core_names


def direction_weights(module: nn.Module, suffix: str) -> DirectionWeights:
    """Look up the parameters :func:`register_direction` created."""

    def get(kind: str) -> Tensor | None:
        return getattr(module, f"{kind}{suffix}", None)

    def layer_norm(part: str) -> LayerNormParams | None:
        weight = get(f"ln_weight_{part}")
        return None if weight is None else (weight, get(f"ln_bias_{part}"))

    return DirectionWeights(
        weight_ih=get("weight_ih"),
        weight_hh=get("weight_hh"),
        bias_ih=get("bias_ih"),
        bias_hh=get("bias_hh"),
        weight_hr=get("weight_hr"),
        ln_ih=layer_norm("ih"),
        ln_hh=layer_norm("hh"),
        ln_c=layer_norm("c"),
        peephole=get("weight_peephole"),
    )


@torch.no_grad()
def reset_direction(
    weights: DirectionWeights,
    bound: float,
    forget_bias: float | None,
    recurrent_init: str,
) -> None:
    """Initialise one layer-direction.

    The ``nn.LSTM`` parameters and the peepholes are drawn from ``U(-bound, bound)`` in
    ``nn.LSTM``'s order (so the default matches ``nn.LSTM`` draw for draw). Layer norms
    start as the identity (gain 1, bias 0). ``recurrent_init="orthogonal"`` makes each
    gate's block of ``W_hh`` orthogonal. ``forget_bias`` sets ``b_if + b_hf`` (or, without
    biases, the input-term layer norm's forget bias).
    """
    core = (weights.weight_ih, weights.weight_hh, weights.bias_ih, weights.bias_hh)
    for tensor in (*core, weights.weight_hr, weights.peephole):
        if tensor is not None:
            nn.init.uniform_(tensor, -bound, bound)
    for layer_norm in (weights.ln_ih, weights.ln_hh, weights.ln_c):
        if layer_norm is not None:
            nn.init.ones_(layer_norm[0])
            nn.init.zeros_(layer_norm[1])
    if recurrent_init == "orthogonal":
        for block in weights.weight_hh.chunk(4, dim=0):
            nn.init.orthogonal_(block)
    if forget_bias is not None:
        if weights.bias_ih is not None:
            weights.bias_ih.chunk(4)[1].fill_(forget_bias)
            weights.bias_hh.chunk(4)[1].zero_()
        elif weights.ln_ih is not None:
            weights.ln_ih[1].chunk(4)[1].fill_(forget_bias)
