"""What :class:`~lstmkit.LSTM` and :class:`~lstmkit.LSTMCell` share: argument checks,
``nn.LSTM``'s parameter names and initialisation, the variants' parameters and the dispatch
plan."""

from __future__ import annotations

import math
from typing import ClassVar

from torch import Tensor, nn

from lstmkit.direction import (
    RECURRENT_INITS,
    DirectionWeights,
    direction_weights,
    register_direction,
    reset_direction,
)
from lstmkit.dispatch import DispatchPlan
from lstmkit.variants import LayerVariants

VARIANT_NAMES = ("layer_norm", "peephole", "recurrent_dropout", "zoneout")


class LSTMBase(nn.Module):
    """Base of the LSTM modules.

    Each layer-direction's parameters are registered under ``nn.LSTM``'s names with a suffix
    (``weight_ih{suffix}``, ``weight_hh``, ``bias_ih``, ``bias_hh``, ``weight_hr``; see
    :mod:`lstmkit.direction`), so plain weights load from and into ``nn.LSTM`` and
    ``nn.LSTMCell``. Subclasses register their directions in ``__init__`` with
    :meth:`_register_direction`, then call :meth:`reset_parameters` and
    :meth:`_plan_dispatch`, and implement :meth:`_make_plan`.

    Args:
        input_size: features ``I`` of the input.
        bias: use ``b_ih`` and ``b_hh``.
        forget_bias: initial ``b_if + b_hf``; ``None`` keeps ``nn.LSTM``'s init when
            ``nn_arguments_only``, and means ``1.0`` otherwise.
        recurrent_init: ``"uniform"`` (``nn.LSTM``'s) or ``"orthogonal"``.
        nn_arguments_only: the module was built with ``nn.LSTM``'s (or ``nn.LSTMCell``'s)
            arguments alone.
    """

    # The module name in error messages, as torch writes it.
    error_name: ClassVar[str]

    def __init__(
        self,
        input_size: int,
        bias: bool,
        forget_bias: float | None,
        recurrent_init: str,
        nn_arguments_only: bool,
    ) -> None:
        super().__init__()
        if recurrent_init not in RECURRENT_INITS:
            raise ValueError(
                f"recurrent_init must be one of {RECURRENT_INITS}, got {recurrent_init!r}"
            )
        self.input_size = input_size
        self.bias = bias
        self.recurrent_init = recurrent_init
        self.forget_bias = forget_bias if forget_bias is not None or nn_arguments_only else 1.0
        # (suffix, hidden size) of every registered layer-direction, in registration order.
        self._directions: list[tuple[str, int]] = []
        self._plans: dict[bool, DispatchPlan] = {}

    def _register_direction(
        self,
        suffix: str,
        input_size: int,
        hidden_size: int,
        proj_size: int,
        variants: LayerVariants,
        factory: dict,
    ) -> list[str]:
        """Create one layer-direction's parameters; returns the names of its ``nn.LSTM``
        parameters in ``nn.LSTM``'s order."""
        self._directions.append((suffix, hidden_size))
        return register_direction(
            self, suffix, input_size, hidden_size, proj_size, self.bias, variants, factory
        )

    def _weights(self, suffix: str) -> DirectionWeights:
        """The parameters of the layer-direction registered with ``suffix``."""
        return direction_weights(self, suffix)

    def reset_parameters(self) -> None:
        """Re-initialise; with only ``nn.LSTM``'s arguments this is ``nn.LSTM``'s init.

        Every weight and bias is drawn from ``U(-1/sqrt(H_k), 1/sqrt(H_k))`` in
        ``nn.LSTM``'s order; see :func:`lstmkit.direction.reset_direction` for the variants.
        """
        for suffix, hidden_size in self._directions:
            bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0
            reset_direction(self._weights(suffix), bound, self.forget_bias, self.recurrent_init)

    def dispatch_plan(self) -> DispatchPlan:
        """Which engine computes each layer for each kind of call, in the current mode
        (:mod:`lstmkit.dispatch`); ``print(module.dispatch_plan())`` shows it."""
        return self._plans[self.training]

    def _plan_dispatch(self) -> None:
        """Compute the plans of both modes for the parameters' current device."""
        first = next(self.parameters(), None)
        device_type = "cpu" if first is None else first.device.type
        self._plans = {
            training: self._make_plan(device_type, training) for training in (True, False)
        }

    def _make_plan(self, device_type: str, training: bool) -> DispatchPlan:
        raise NotImplementedError

    def _apply(self, fn, recurse=True):
        result = super()._apply(fn, recurse)
        self._plan_dispatch()
        return result

    def _check_rank(self, value: Tensor, ranks: tuple[int, int], label: str = "input") -> None:
        """``ValueError`` in torch's words unless ``value`` has one of the two ``ranks``."""
        if value.dim() not in ranks:
            raise ValueError(
                f"{self.error_name}: Expected {label} to be {ranks[0]}D or {ranks[1]}D, "
                f"got {value.dim()}D instead"
            )

    @staticmethod
    def _variants_repr(layer_variants: list[LayerVariants]) -> str:
        """``, name=value`` for every variant in use: one value, or one per layer where the
        layers differ."""
        s = ""
        for name in VARIANT_NAMES:
            values = [getattr(v, name) for v in layer_variants]
            if any(values):
                s += f", {name}={values if len(set(values)) > 1 else values[0]}"
        return s
