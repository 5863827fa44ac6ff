"""Bucket sampler and padding collate properties."""

from __future__ import annotations

import random

import pytest
import torch

from tasks.batching import BucketBatchSampler, pad_collate, pad_sequences, padding_fraction

_RNG = random.Random(0)
LENGTHS = [_RNG.randint(5, 400) for _ in range(203)]


def flat(batches: list[list[int]]) -> list[int]:
    return [i for batch in batches for i in batch]


@pytest.mark.parametrize("kwargs", [{"batch_size": 8}, {"max_frames": 1600}])
def test_every_index_once_and_deterministic_per_epoch(kwargs: dict) -> None:
    sampler = BucketBatchSampler(LENGTHS, shuffle=True, seed=3, bucket_batches=4, **kwargs)
    epoch0 = list(sampler)
    assert sorted(flat(epoch0)) == list(range(len(LENGTHS)))
    assert list(sampler) == epoch0, "same epoch, same plan"
    again = BucketBatchSampler(LENGTHS, shuffle=True, seed=3, bucket_batches=4, **kwargs)
    assert list(again) == epoch0, "the plan depends only on (seed, epoch, lengths)"
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert epoch1 != epoch0 and sorted(flat(epoch1)) == list(range(len(LENGTHS)))
    if "max_frames" in kwargs:
        assert all(len(b) * max(LENGTHS[i] for i in b) <= 1600 for b in epoch0 if len(b) > 1)
    else:
        assert all(len(b) <= 8 for b in epoch0)


def test_bucketing_reduces_padding() -> None:
    bucketed = BucketBatchSampler(LENGTHS, batch_size=8, shuffle=True, seed=0, bucket_batches=10)
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(LENGTHS), generator=generator).tolist()
    random_batches = [order[i : i + 8] for i in range(0, len(order), 8)]
    assert bucketed.padding_fraction() < 0.5 * padding_fraction(random_batches, LENGTHS)
    assert padding_fraction([[0, 1]], [3, 1]) == pytest.approx(1 - 4 / 6)


@pytest.mark.parametrize("drop_last", [False, True])
def test_ddp_shards_are_disjoint_and_equal(drop_last: bool) -> None:
    world = 3
    shards = []
    for rank in range(world):
        sampler = BucketBatchSampler(
            LENGTHS, batch_size=8, seed=5, num_replicas=world, rank=rank, drop_last=drop_last
        )
        sampler.set_epoch(2)
        shards.append(list(sampler))
    n_batches = len(BucketBatchSampler(LENGTHS, batch_size=8, seed=5).all_batches())  # 26
    assert len({len(s) for s in shards}) == 1, "every rank runs the same number of steps"
    seen = [flat(s) for s in shards]
    if drop_last:
        assert len(shards[0]) == n_batches // world
        assert sum(map(len, seen)) == len(set().union(*map(set, seen))), "disjoint"
    else:
        assert len(shards[0]) == -(-n_batches // world)
        assert set().union(*map(set, seen)) == set(range(len(LENGTHS))), "full coverage"
        # Only the batches repeated to equalise the ranks may overlap.
        repeated = len(shards[0]) * world - n_batches
        overlap = sum(map(len, seen)) - len(LENGTHS)
        assert 0 < overlap <= repeated * 8


def test_unshuffled_plan_is_sorted_by_length() -> None:
    batches = list(BucketBatchSampler(LENGTHS, batch_size=16, shuffle=False))
    assert [LENGTHS[i] for i in flat(batches)] == sorted(LENGTHS)


def test_sortagrad_epochs_come_shortest_first_then_bucketed() -> None:
    sampler = BucketBatchSampler(LENGTHS, batch_size=8, seed=1, sortagrad_epochs=1)
    epoch0 = list(sampler)
    assert [LENGTHS[i] for i in flat(epoch0)] == sorted(LENGTHS)
    assert sorted(flat(epoch0)) == list(range(len(LENGTHS)))
    sampler.set_epoch(1)
    plain = BucketBatchSampler(LENGTHS, batch_size=8, seed=1)
    plain.set_epoch(1)
    assert list(sampler) == list(plain), "after the SortaGrad epochs: the usual bucketed plan"


def test_pad_collate() -> None:
    items = [
        {"x": torch.ones(3, 2), "y": torch.tensor([1, 2]), "label": torch.tensor(0), "id": "a"},
        {"x": torch.ones(1, 2), "y": torch.tensor([3, 4]), "label": torch.tensor(1), "id": "b"},
    ]
    batch = pad_collate(items, padded={"x": -1.0, "y": 0})
    assert batch["x"].shape == (2, 3, 2) and batch["x_lengths"].tolist() == [3, 1]
    assert (batch["x"][1, 1:] == -1).all() and (batch["x"][1, 0] == 1).all()
    assert batch["y_lengths"].tolist() == [2, 2], "equal lengths still get lengths"
    assert batch["label"].tolist() == [0, 1] and batch["id"] == ["a", "b"]
    with pytest.raises(ValueError):
        pad_sequences([])
