"""Bucket sampler, padding collate and inference batch properties."""

from __future__ import annotations

import random

import pytest
import torch

from tasks.batching import (
    BucketBatchSampler,
    pad_collate,
    pad_sequences,
    padding_fraction,
    size_batches,
)

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


@pytest.mark.parametrize("world", [2, 3])
def test_evaluation_shards_serve_every_item_exactly_once(world: int) -> None:
    shards = [
        BucketBatchSampler(
            LENGTHS, batch_size=16, shuffle=False, num_replicas=world, rank=r, even=False
        )
        for r in range(world)
    ]
    served = [flat(list(s)) for s in shards]
    assert sorted(i for shard in served for i in shard) == list(range(len(LENGTHS)))
    assert max(map(len, (list(s) for s in shards))) - min(len(list(s)) for s in shards) <= 1


def test_evaluation_shards_with_fewer_items_than_ranks_give_every_rank_a_batch() -> None:
    shards = [
        list(BucketBatchSampler([3, 1], shuffle=False, num_replicas=3, rank=r, even=False))
        for r in range(3)
    ]
    assert all(len(s) == 1 for s in shards)
    assert {i for s in shards for i in flat(s)} == {0, 1}


def test_state_resumes_mid_epoch_without_repeating_or_skipping() -> None:
    def sampler() -> BucketBatchSampler:
        return BucketBatchSampler(LENGTHS, batch_size=8, seed=4, bucket_batches=4)

    uninterrupted = sampler()
    uninterrupted.set_epoch(2)
    plan = list(uninterrupted)
    first = sampler()
    first.set_epoch(2)
    first.mark_consumed(2, 5, len(plan))
    state = first.state_dict()
    assert state == {"epoch": 2, "consumed": 5, "num_replicas": 1, "seed": 4}
    resumed = sampler()
    resumed.load_state_dict(state)
    resumed.set_epoch(2)  # Lightning sets the same epoch again: the position stays
    assert list(resumed) == plan[5:]
    assert list(resumed) == plan, "the skip applies to the first iteration only"
    resumed.load_state_dict(state)
    resumed.set_epoch(3)  # a new epoch starts from its first batch
    uninterrupted.set_epoch(3)
    assert list(resumed) == list(uninterrupted)


def test_finished_epoch_is_saved_as_the_next_one_and_bad_states_are_refused() -> None:
    sampler = BucketBatchSampler(LENGTHS, batch_size=8, seed=4)
    sampler.mark_consumed(0, 26, 26)
    assert sampler.state_dict()["epoch"] == 1 and sampler.state_dict()["consumed"] == 0
    other = BucketBatchSampler(LENGTHS, batch_size=8, seed=4, num_replicas=2, rank=0)
    with pytest.raises(ValueError, match="num_replicas=1 cannot resume with num_replicas=2"):
        other.load_state_dict(sampler.state_dict())


def test_size_batches_cap_items_and_padded_size() -> None:
    sizes = [50, 1, 3, 2, 40, 4, 200, 5]
    batches = size_batches(sizes, batch_size=3, max_padded_size=100)
    assert [[sizes[i] for i in b] for b in batches] == [[1, 2, 3], [4, 5], [40, 50], [200]]
    assert sorted(flat(batches)) == list(range(len(sizes)))  # each input once
    uncapped = size_batches(sizes, batch_size=3)
    assert [[sizes[i] for i in b] for b in uncapped] == [[1, 2, 3], [4, 5, 40], [50, 200]]
    assert size_batches([7, 7, 7], batch_size=2) == [[0, 1], [2]]  # ties keep input order
    assert padding_fraction(batches, sizes) < padding_fraction(
        [[0, 1, 2], [3, 4, 5], [6, 7]], sizes
    )
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        size_batches(sizes, batch_size=0)
