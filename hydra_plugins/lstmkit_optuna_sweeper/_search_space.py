"""Hydra's sweep syntax as Optuna distributions, and trial parameters back as overrides.

=========================================  ===============================================
``hydra.sweeper.params`` entry             Optuna distribution
=========================================  ===============================================
``choice(a, b, c)``                        ``CategoricalDistribution([a, b, c])``
``range(start, stop, step)`` (ints)        ``IntDistribution(start, last, step)``; ``stop``
                                           is excluded, as in Hydra's basic sweeper
``tag(log, range(start, stop))``           ``IntDistribution(start, last, log=True)``
``range(...)`` with a float                ``FloatDistribution(start, last, step)``
``interval(low, high)``                    ``FloatDistribution(low, high)`` (Hydra reads
                                           the bounds as floats: use ``range`` for ints)
``tag(log, interval(low, high))``          the same with ``log=True``
anything else (``key=value``)              a fixed override passed to every trial
=========================================  ===============================================
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)


def distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one sweep override (``choice``, ``range`` or ``interval``)."""
    sweep = override.value()
    key = override.get_key_element()
    if isinstance(sweep, ChoiceSweep) or (isinstance(sweep, RangeSweep) and sweep.shuffle):
        return CategoricalDistribution(list(override.sweep_iterator(Transformer.encode)))
    if isinstance(sweep, RangeSweep):
        values = list(override.sweep_iterator())
        if not values:
            raise ValueError(f"hydra.sweeper.params.{key}: {sweep} holds no value")
        if "log" in sweep.tags and sweep.step != 1:
            raise ValueError(f"hydra.sweeper.params.{key}: a log range needs step 1")
        if "log" in sweep.tags or all(isinstance(v, int) for v in (*values, sweep.step)):
            step = None if "log" in sweep.tags else int(sweep.step)
            return IntDistribution(values[0], values[-1], step=step or 1, log=step is None)
        return FloatDistribution(float(values[0]), float(values[-1]), step=float(sweep.step))
    if isinstance(sweep, IntervalSweep):
        return FloatDistribution(float(sweep.start), float(sweep.end), log="log" in sweep.tags)
    raise ValueError(f"hydra.sweeper.params.{key}: {sweep} is not choice, range or interval")


def search_space(
    overrides: Iterable[str],
) -> tuple[dict[str, BaseDistribution], list[str]]:
    """Split ``key=value`` overrides into the searched distributions and the fixed overrides.

    A key given twice keeps its last value, so the command line beats ``hydra.sweeper.params``.
    """
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    searched: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}
    for override in parsed:
        key = override.get_key_element()
        searched.pop(key, None)
        fixed.pop(key, None)
        if override.is_sweep_override():
            searched[key] = distribution(override)
        else:
            fixed[key] = override.input_line or f"{key}={override.get_value_element_as_str()}"
    return searched, list(fixed.values())


def override_value(value: Any) -> str:
    """A suggested parameter value in Hydra's override syntax (``None`` -> ``null``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, float) else str(value)


def trial_overrides(params: dict[str, Any]) -> list[str]:
    """``["key=value", ...]`` for a trial's parameters."""
    return [f"{key}={override_value(value)}" for key, value in params.items()]
