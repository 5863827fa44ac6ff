"""Optimizer and learning-rate schedule built from the ``optim`` config."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR


def build_optimizer(
    named_parameters: Iterable[tuple[str, nn.Parameter]], cfg: Mapping[str, Any]
) -> Optimizer:
    """Optimizer over the trainable parameters; biases and norm gains (ndim < 2) get no decay.

    ``cfg``: ``name`` (adamw | adam | sgd), ``lr``, ``weight_decay``, ``betas``, ``eps``,
    ``momentum`` (sgd).
    """
    trainable = [(n, p) for n, p in named_parameters if p.requires_grad]
    if not trainable:
        raise ValueError("no trainable parameters: check the `freeze` list")
    groups = [
        {"params": [p for _, p in trainable if p.ndim >= 2], "weight_decay": cfg["weight_decay"]},
        {"params": [p for _, p in trainable if p.ndim < 2], "weight_decay": 0.0},
    ]
    name = cfg["name"]
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=cfg["lr"], betas=tuple(cfg["betas"]), eps=cfg["eps"])
    if name == "adam":
        return torch.optim.Adam(groups, lr=cfg["lr"], betas=tuple(cfg["betas"]), eps=cfg["eps"])
    if name == "sgd":
        return torch.optim.SGD(groups, lr=cfg["lr"], momentum=cfg["momentum"], nesterov=True)
    raise ValueError(f"optim.name={name!r} is not one of adamw, adam, sgd")


def warmup_cosine(step: int, total: int, warmup: float, start: float, floor: float) -> float:
    """LR multiplier: linear warmup from ``start`` to 1 over ``warmup * total`` steps, then
    ``floor + (1 - floor) * (1 + cos(pi * p)) / 2`` with ``p`` the post-warmup progress."""
    warmup_steps = max(1, round(warmup * total))
    if step < warmup_steps:
        return start + (1.0 - start) * step / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total - warmup_steps))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_constant(step: int, total: int, warmup: float, start: float) -> float:
    """LR multiplier: linear warmup from ``start`` to 1, then constant 1."""
    warmup_steps = max(1, round(warmup * total))
    return start + (1.0 - start) * min(1.0, step / warmup_steps)


def build_scheduler(optimizer: Optimizer, cfg: Mapping[str, Any], total_steps: int) -> LRScheduler:
    """Per-step LR schedule from ``cfg`` = ``optim.scheduler``.

    ``name``: ``onecycle`` (torch OneCycleLR, cosine annealing), ``cosine`` (warmup + cosine
    decay) or ``constant`` (warmup + constant). ``warmup`` is the warmup share of
    ``total_steps``, the LR starts at ``initial_lr_ratio * lr`` and ends at
    ``min_lr_ratio * lr``.
    """
    name = cfg["name"]
    warmup, start, floor = cfg["warmup"], cfg["initial_lr_ratio"], cfg["min_lr_ratio"]
    if name == "onecycle" and total_steps >= 2:
        max_lr = [group["lr"] for group in optimizer.param_groups]
        # OneCycleLR's warmup phase ends at step pct * T - 1: it must lie inside (0, T - 1).
        pct_start = min(max(warmup, 1.5 / total_steps), 1.0 - 0.5 / total_steps)
        return OneCycleLR(
            optimizer,
            max_lr=max_lr,
            total_steps=total_steps,
            pct_start=pct_start,
            div_factor=1.0 / start,
            final_div_factor=start / floor,
            cycle_momentum=False,
        )
    if name == "cosine":
        return LambdaLR(
            optimizer, lambda step: warmup_cosine(step, total_steps, warmup, start, floor)
        )
    if name in ("constant", "onecycle"):  # onecycle over a single step: constant
        return LambdaLR(optimizer, lambda step: warmup_constant(step, total_steps, warmup, start))
    raise ValueError(f"optim.scheduler.name={name!r} is not one of onecycle, cosine, constant")
