"""Optimizer and learning-rate schedule built from the ``optim`` config."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler


def build_optimizer(
    named_parameters: Iterable[tuple[str, nn.Parameter]], cfg: Mapping[str, Any]
) -> Optimizer:
    """Optimizer over the trainable parameters; biases and norm gains (ndim < 2) get no decay.

    ``cfg``: ``name`` (adamw | adam | sgd), ``lr``, ``weight_decay``, ``betas``, ``eps``,
    ``fused`` (adamw, adam: one kernel per step instead of a chain of ``foreach`` ops, which
    also skips their temporaries: the step over a large embedding table is several times
    faster), ``momentum`` (sgd).
    """
    trainable = [(n, p) for n, p in named_parameters if p.requires_grad]
    if not trainable:
        raise ValueError("no trainable parameters: check the `freeze` list")
    groups = [
        {"params": [p for _, p in trainable if p.ndim >= 2], "weight_decay": cfg["weight_decay"]},
        {"params": [p for _, p in trainable if p.ndim < 2], "weight_decay": 0.0},
    ]
    name = cfg["name"]
    if name in ("adamw", "adam"):
        adam = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
        betas = tuple(cfg["betas"])
        return adam(groups, lr=cfg["lr"], betas=betas, eps=cfg["eps"], fused=cfg["fused"])
    if name == "sgd":
        return torch.optim.SGD(groups, lr=cfg["lr"], momentum=cfg["momentum"], nesterov=True)
    raise ValueError(f"optim.name={name!r} is not one of adamw, adam, sgd")


def one_cycle(progress: float, warmup: float, start: float, floor: float) -> float:
    """LR multiplier at training progress ``p`` in ``[0, 1]``, the shape of torch's
    ``OneCycleLR`` with cosine annealing: ``start + (1 - start) (1 - cos(pi p / w)) / 2``
    while ``p < w`` (``w`` the warmup share), then ``floor + (1 - floor) (1 + cos(pi q)) / 2``
    with ``q = (p - w) / (1 - w)``."""
    if progress < warmup:
        return start + (1.0 - start) * 0.5 * (1.0 - math.cos(math.pi * progress / warmup))
    return _cosine_decay(progress, warmup, floor)


def warmup_cosine(progress: float, warmup: float, start: float, floor: float) -> float:
    """LR multiplier: linear warmup from ``start`` to 1 over the ``warmup`` share, then the
    cosine decay of :func:`one_cycle`."""
    if progress < warmup:
        return start + (1.0 - start) * progress / warmup
    return _cosine_decay(progress, warmup, floor)


def warmup_constant(progress: float, warmup: float, start: float) -> float:
    """LR multiplier: linear warmup from ``start`` to 1, then constant 1."""
    if progress < warmup:
        return start + (1.0 - start) * progress / warmup
    return 1.0


def _cosine_decay(progress: float, warmup: float, floor: float) -> float:
    q = min(1.0, (progress - warmup) / max(1.0 - warmup, 1e-12))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * q))


class TrainingProgress:
    """Progress ``p`` in ``[0, 1]`` of a run after ``step`` optimizer steps: ``step / total``,
    or ``max(step / total, t / T)`` with ``time_share`` returning ``t / T``, the share of
    the run's time limit already used. With a time limit the schedule then completes (warmup,
    decay to the floor) when the limit stops training, instead of being cut off with the LR
    still high. On a machine fast enough to finish the steps in time the step share always
    leads and the schedule is the deterministic step schedule."""

    def __init__(self, total_steps: int, time_share: Callable[[], float] | None = None) -> None:
        self.total_steps = max(1, total_steps)
        self.time_share = time_share

    def __call__(self, step: int) -> float:
        progress = step / self.total_steps
        if self.time_share is not None:
            progress = max(progress, self.time_share())
        return min(progress, 1.0)


SCHEDULES = ("onecycle", "cosine", "constant")


def build_scheduler(
    optimizer: Optimizer,
    cfg: Mapping[str, Any],
    total_steps: int,
    time_share: Callable[[], float] | None = None,
) -> LRScheduler:
    """Per-step LR schedule from ``cfg`` = ``optim.scheduler``, a function of
    :class:`TrainingProgress` ``(total_steps, time_share)``.

    ``name``: ``onecycle`` (:func:`one_cycle`), ``cosine`` (:func:`warmup_cosine`) or
    ``constant`` (:func:`warmup_constant`). ``warmup`` is the warmup share of the run, the
    LR starts at ``initial_lr_ratio * lr`` and ends at ``min_lr_ratio * lr``.
    """
    name = cfg["name"]
    warmup, start, floor = cfg["warmup"], cfg["initial_lr_ratio"], cfg["min_lr_ratio"]
    progress = TrainingProgress(total_steps, time_share)
    if name == "onecycle":
        return LambdaLR(optimizer, lambda step: one_cycle(progress(step), warmup, start, floor))
    if name == "cosine":
        return LambdaLR(optimizer, lambda step: warmup_cosine(progress(step), warmup, start, floor))
    if name == "constant":
        return LambdaLR(optimizer, lambda step: warmup_constant(progress(step), warmup, start))
    raise ValueError(f"optim.scheduler.name={name!r} is not one of {', '.join(SCHEDULES)}")
