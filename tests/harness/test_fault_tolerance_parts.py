"""Pieces of fault tolerance that need no training run: atomic checkpoint files, the SLURM
run directory, the RNG state round trip and gathering evaluation records."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from tasks.batching.resumable_loader import SAMPLE_IDS
from tasks.harness.atomic_checkpoint import save_atomically
from tasks.harness.checkpoint import newest_checkpoint_in
from tasks.harness.eval_records import batch_records, gather_records, weighted_means
from tasks.harness.resolvers import train_run_dir
from tasks.harness.resumption import capture_rng, restore_rng


def test_atomic_save_replaces_the_file_and_leaves_no_partial(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints" / "last.ckpt"
    save_atomically({"step": 1}, path)
    save_atomically({"step": 2}, path)
    assert torch.load(path, weights_only=True) == {"step": 2}
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]


def test_rng_state_round_trip_is_plain_data(tmp_path: Path) -> None:
    state = capture_rng()
    save_atomically({"rng": state}, tmp_path / "rng.ckpt")
    loaded = torch.load(tmp_path / "rng.ckpt", weights_only=True)["rng"]
    expected = (random.random(), float(np.random.rand()), float(torch.rand(())))
    restore_rng(loaded)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == expected


def test_slurm_job_keeps_its_run_dir_and_resumes_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = tmp_path / "runs"
    monkeypatch.delenv("SLURM_JOB_NAME", raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    first = Path(train_run_dir(None, str(runs)))
    assert first == runs / "slurm-4242"
    assert newest_checkpoint_in(first) is None  # a first run starts fresh
    save_atomically({"step": 3}, first / "checkpoints" / "last.ckpt")
    assert Path(train_run_dir(None, str(runs))) == first  # the requeued job
    assert newest_checkpoint_in(first) == (first / "checkpoints" / "last.ckpt").resolve()
    monkeypatch.delenv("SLURM_JOB_ID")
    assert Path(train_run_dir(None, str(runs))) != first


def test_gathered_records_are_unique_and_in_id_order() -> None:
    batch = {SAMPLE_IDS: [4, 1, 4]}
    records = batch_records(batch, {"hyp": ["d", "a", "d"]})
    assert gather_records(records) == [{"id": 1, "hyp": "a"}, {"id": 4, "hyp": "d"}]
    with pytest.raises(ValueError, match="column 'hyp' has 2 entries for 3 samples"):
        batch_records(batch, {"hyp": ["a", "b"]})


def test_weighted_means_divide_exact_sums_over_ranks() -> None:
    # rank 0: batches of 2 and 1 samples, rank 1: one batch of 2 (5 samples, odd)
    shards = [{"loss": (2 * 3.0 + 1 * 4.0, 3)}, {"loss": (2 * 5.0, 2)}]
    assert weighted_means(shards) == {"loss": pytest.approx((6.0 + 4.0 + 10.0) / 5)}
