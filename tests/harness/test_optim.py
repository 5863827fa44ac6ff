"""LR schedules as functions of training progress, with and without a time limit."""

from __future__ import annotations

import itertools
import json

import pytest
import pytorch_lightning as pl
import torch

from tasks.harness.optim import (
    TrainingProgress,
    build_optimizer,
    build_scheduler,
    one_cycle,
    warmup_cosine,
)
from tests.harness.toy_task import ToyModule

SCHEDULE = {"warmup": 0.1, "initial_lr_ratio": 0.04, "min_lr_ratio": 0.01}


def lrs(name: str, total: int, steps: int | None = None, time_share=None) -> list[float]:
    """The LR before the first step and after each of ``steps`` (default ``total``) steps."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    scheduler = build_scheduler(optimizer, {"name": name, **SCHEDULE}, total, time_share)
    out = [optimizer.param_groups[0]["lr"]]
    for _ in range(total if steps is None else steps):
        optimizer.step()
        scheduler.step()
        out.append(optimizer.param_groups[0]["lr"])
    return out


@pytest.mark.parametrize("name", ["onecycle", "cosine"])
def test_schedules_rise_to_the_peak_then_decay_to_the_floor(name: str) -> None:
    lr = lrs(name, 100)
    assert lr[0] == pytest.approx(2.0 * 0.04)
    assert max(lr) == pytest.approx(2.0) and lr.index(max(lr)) == 10
    assert lr[-1] == pytest.approx(2.0 * 0.01)
    assert all(a < b for a, b in itertools.pairwise(lr[:11]))
    assert all(a >= b for a, b in itertools.pairwise(lr[10:]))


def test_one_cycle_matches_torch_one_cycle_lr_in_the_decay() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    torch_schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, 1.0, total_steps=201, pct_start=0.1, div_factor=25, final_div_factor=4
    )
    for step in range(200):
        if step >= 20:  # OneCycleLR's phases end one step early; compare from the peak on
            ours = one_cycle(step / 200, 0.1, 0.04, 0.01)
            assert optimizer.param_groups[0]["lr"] == pytest.approx(ours, abs=0.01)
        optimizer.step()
        torch_schedule.step()


def test_time_share_moves_the_schedule_on_when_the_clock_leads() -> None:
    assert TrainingProgress(1000)(250) == 0.25
    assert TrainingProgress(1000, lambda: 0.6)(250) == 0.6
    assert TrainingProgress(1000, lambda: 0.1)(250) == 0.25, "the step share leads"
    assert TrainingProgress(1000, lambda: 1.3)(10) == 1.0
    # half the time limit gone after 10 of 100 steps: the LR is already half-way down
    lr = lrs("onecycle", 100, steps=10, time_share=lambda: 0.55)
    assert lr[-1] == pytest.approx(2.0 * one_cycle(0.55, 0.1, 0.04, 0.01))
    assert lr[-1] == pytest.approx(2.0 * warmup_cosine(0.55, 0.1, 0.04, 0.01))
    assert lrs("cosine", 100, steps=10, time_share=lambda: 1.0)[-1] == pytest.approx(2.0 * 0.01)


def test_unknown_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match=r"optim\.scheduler\.name='step' is not one of"):
        lrs("step", 3)


@pytest.mark.parametrize("max_time", [None, "00:00:10:00"])
def test_modules_read_the_time_share_from_lightnings_timer(max_time: str | None) -> None:
    module = ToyModule(
        model={
            "encoder": {"hidden_size": 4},
            "fail_at_epoch": None,
            "dropout": 0.0,
            "predict": {"top_k": None},
        },
        optim={"name": "sgd", "lr": 1.0, "weight_decay": 0.0, "momentum": 0.0,
               "scheduler": {"name": "onecycle", "fit_max_time": True, **SCHEDULE}},
        artifacts={"labels": ["a", "b"], "mean": torch.tensor(0.0), "std": torch.tensor(1.0)},
    )  # fmt: skip
    module.trainer = pl.Trainer(max_time=max_time, max_steps=100, logger=False)
    share = module._max_time_share()
    if max_time is None:
        assert share is None
    else:  # the timer has not started: no time used yet
        assert share is not None and share() == 0.0


def test_max_time_stops_training_inside_the_first_epoch(train_toy) -> None:
    """The wall-clock limit holds even when it runs out before one epoch (6 steps) has ended."""
    run = train_toy("trainer.max_time=00:00:00:00")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["global_step"] == 0, summary


@pytest.mark.parametrize("name", ["adamw", "adam"])
def test_fused_adam_steps_like_the_foreach_one(name: str) -> None:
    torch.manual_seed(0)
    table, bias = torch.randn(64, 8), torch.randn(8)
    cfg = {"name": name, "lr": 0.01, "weight_decay": 0.1, "betas": [0.9, 0.98], "eps": 1e-8}
    params = {}
    for fused in (False, True):
        named = [
            ("table", torch.nn.Parameter(table.clone())),
            ("bias", torch.nn.Parameter(bias.clone())),
        ]
        optimizer = build_optimizer(named, cfg | {"fused": fused})
        assert optimizer.defaults["fused"] is fused
        for step in range(3):
            for _, p in named:
                p.grad = torch.sin(p.detach() * (step + 1))
            optimizer.step()
        params[fused] = [p.detach() for _, p in named]
    for unfused, fused in zip(params[False], params[True], strict=True):
        torch.testing.assert_close(fused, unfused)
