"""Conversion of hyperparameters and artifacts to checkpoint-safe plain containers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

_SCALARS = (str, int, float, bool, type(None))


def to_plain(value: Any, where: str = "value") -> Any:
    """Return ``value`` as dicts/lists/tuples of str, int, float, bool, None and CPU tensors.

    These are exactly the types ``torch.load(weights_only=True)`` accepts, so a checkpoint
    holding them loads without executing pickled code. OmegaConf containers are resolved and
    converted; anything else raises ``TypeError`` naming the offending field (``where``).
    """
    if isinstance(value, DictConfig | ListConfig):
        value = OmegaConf.to_container(value, resolve=True)
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy scalar
        return value.item()
    if isinstance(value, Mapping):
        plain = {}
        for key, item in value.items():
            if not isinstance(key, str | int):
                raise TypeError(
                    f"{where}: key {key!r} must be a str or int to go into a checkpoint"
                )
            plain[key] = to_plain(item, f"{where}.{key}")
        return plain
    if isinstance(value, list | tuple):
        items = [to_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise TypeError(
        f"{where}: a {type(value).__name__} cannot go into a checkpoint loaded with "
        "weights_only=True; store it as plain lists/dicts/numbers/strings or tensors "
        "(e.g. Vocabulary.to_list())"
    )
