"""Checkpoints load with weights_only=True and rebuild the module; run dirs never collide."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from pathlib import Path

import pytest
import torch

from tasks.harness import resolvers
from tasks.harness.checkpoint import find_checkpoint, load_checkpoint, load_module
from tasks.harness.errors import CheckpointError
from tasks.harness.plain import to_plain


def test_checkpoints_load_weights_only_and_rebuild(base_run: Path) -> None:
    for path in (base_run / "checkpoints").glob("*.ckpt"):
        # Lightning's extra state (loops, callbacks, optimizer, OneCycle schedule) included.
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        assert checkpoint["lr_schedulers"] and checkpoint["optimizer_states"]
        assert checkpoint["lstmkit"]["module"] == "tests.harness.toy_task.ToyModule"
        assert checkpoint["lstmkit"]["output_vocabularies"] == {"head.": ["neg", "pos"]}
        assert checkpoint["lstmkit"]["config"]["task"]["name"] == "toy"
        module = load_module(path)
        assert not module.training
        for name, tensor in module.state_dict().items():
            torch.testing.assert_close(tensor, checkpoint["state_dict"][name], rtol=0, atol=0)
    assert find_checkpoint(base_run) == (base_run / "checkpoints" / "last.ckpt").resolve()
    assert find_checkpoint("last", base_run.parent) == find_checkpoint(base_run)


def test_unsafe_or_foreign_checkpoints_are_refused(tmp_path: Path) -> None:
    unsafe = tmp_path / "unsafe.ckpt"
    torch.save(
        {"state_dict": {}, "hyper_parameters": {"ratio": Fraction(1, 2)}, "lstmkit": {}}, unsafe
    )
    with pytest.raises(CheckpointError, match="not plain data"):
        load_checkpoint(unsafe)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not written by a TaskModule"):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="does not exist"):
        find_checkpoint(tmp_path / "nope.ckpt")
    with pytest.raises(CheckpointError, match=r"no checkpoints/last\.ckpt under"):
        find_checkpoint("last", tmp_path)


def test_hyperparameters_must_be_plain() -> None:
    assert to_plain({"labels": ("a", "b"), "mean": torch.ones(2)})["labels"] == ("a", "b")
    with pytest.raises(
        TypeError, match=r"artifacts\.vocab: a Fraction cannot go into a checkpoint"
    ):
        to_plain({"vocab": Fraction(1, 3)}, "artifacts")


def test_run_dirs_started_in_the_same_second_differ(tmp_path: Path, monkeypatch) -> None:
    class FrozenClock:
        @staticmethod
        def now() -> datetime:
            return datetime(2026, 1, 2, 3, 4, 5)

    tokens = iter(["aaaa", "aaaa", "bbbb"])  # the second run draws the first one's suffix
    monkeypatch.setattr(resolvers, "datetime", FrozenClock)
    monkeypatch.setattr(resolvers.secrets, "token_hex", lambda n: next(tokens))
    first = resolvers.unique_dir(str(tmp_path))
    second = resolvers.unique_dir(str(tmp_path))
    assert Path(first).name == "2026-01-02_03-04-05_aaaa"
    assert Path(second).name == "2026-01-02_03-04-05_bbbb"
    assert Path(second).is_dir()
