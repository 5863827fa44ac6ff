"""The LSTM variants a layer can use, and their per-layer expansion.

Each variant is a keyword argument of :class:`~lstmkit.LSTM` that takes one value for
every layer or a list with one value per layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class LayerVariants:
    """Variants of the recurrence of one layer (both directions share them).

    Attributes:
        layer_norm: layer norm on the input term, the recurrent term and the cell
            (Ba et al. 2016).
        peephole: peephole connections from the cell to the gates (Gers & Schmidhuber 2000).
        recurrent_dropout: probability of dropping units of ``h_{t-1}``; one mask per
            sequence (variational, Gal & Ghahramani 2016); training only.
        zoneout: probability of keeping the previous ``h`` and ``c`` unit (Krueger et al.
            2017); sampled per step in training, its expectation in evaluation.
    """

    layer_norm: bool = False
    peephole: bool = False
    recurrent_dropout: float = 0.0
    zoneout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("layer_norm", "peephole"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        for name in ("recurrent_dropout", "zoneout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
                raise ValueError(f"{name} must be a probability in [0, 1), got {value!r}")

    @property
    def changes_recurrence(self) -> bool:
        """True when the training step differs from the plain LSTM step."""
        return not self.plain_step(training=True)

    def plain_step(self, training: bool) -> bool:
        """True when the step in this mode is ``nn.LSTM``'s, which torch's kernel runs: no
        layer norm, peephole or zoneout, and recurrent dropout only in evaluation, where it
        is the identity."""
        recurrent_dropout = training and self.recurrent_dropout > 0
        return not (self.layer_norm or self.peephole or self.zoneout > 0 or recurrent_dropout)


def per_layer(value: T | Sequence[T], num_layers: int, name: str) -> list[T]:
    """One ``value`` for every layer, or a list of ``num_layers`` values checked for length."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != num_layers:
            raise ValueError(
                f"{name} has {len(value)} entries but the LSTM has {num_layers} layers; "
                "give one value per layer or a single value for all"
            )
        return list(value)
    return [value] * num_layers
