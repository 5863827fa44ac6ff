"""A DataLoader that numbers its items and whose position survives a checkpoint."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from tasks.batching.bucket_sampler import BucketBatchSampler

SAMPLE_IDS = "sample_ids"
"""Batch key holding the dataset index of every item in the batch, ``list[int]`` of length B."""


class IndexedDataset(Dataset):
    """``dataset[i]`` as ``(i, dataset[i])``, so a batch knows which items it holds."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[int, Any]:
        return index, self.dataset[index]


class CollateWithIds:
    """Collate ``(index, item)`` pairs with ``collate_fn`` and add ``batch[SAMPLE_IDS]``.

    Items that are ``None`` (inputs a dataset could not read; collates drop them) get no id,
    so ``batch[SAMPLE_IDS]`` lines up with the collated rows.
    """

    def __init__(self, collate_fn: Callable[[list[Any]], dict[str, Any]]) -> None:
        self.collate_fn = collate_fn

    def __call__(self, pairs: Sequence[tuple[int, Any]]) -> dict[str, Any]:
        batch = self.collate_fn([item for _, item in pairs])
        batch[SAMPLE_IDS] = [index for index, item in pairs if item is not None]
        return batch


class ResumableDataLoader(DataLoader):
    """A DataLoader over a :class:`BucketBatchSampler` with ``state_dict``/``load_state_dict``.

    Lightning stores the state of every training loader that has both methods in the
    checkpoint (``loops.fit_loop.state_dict.combined_loader``) and loads it before the first
    batch of a resumed run: the sampler then continues the epoch after the batches already
    trained on. The loader draws its worker seeds from its own generator (seeded with
    ``seed``), so starting an epoch does not advance the global RNG that dropout and
    augmentation use, and a resumed run draws the same random numbers as an uninterrupted one.
    """

    batch_sampler: BucketBatchSampler

    def __init__(
        self,
        dataset: Dataset,
        batch_sampler: BucketBatchSampler,
        collate_fn: Callable[[list[Any]], Any],
        num_workers: int = 0,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("generator", torch.Generator().manual_seed(seed))
        kwargs.setdefault("persistent_workers", num_workers > 0)
        super().__init__(
            dataset,
            batch_sampler=batch_sampler,
            collate_fn=collate_fn,
            num_workers=num_workers,
            **kwargs,
        )

    def state_dict(self) -> dict[str, int]:
        return self.batch_sampler.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.batch_sampler.load_state_dict(state)


def numbered_loader(
    dataset: Dataset,
    sampler: BucketBatchSampler,
    collate_fn: Callable[[list[Any]], dict[str, Any]],
    num_workers: int = 0,
    seed: int = 0,
) -> ResumableDataLoader:
    """A :class:`ResumableDataLoader` whose batches carry ``SAMPLE_IDS`` (dataset indices)."""
    return ResumableDataLoader(
        IndexedDataset(dataset),
        sampler,
        CollateWithIds(collate_fn),
        num_workers=num_workers,
        seed=seed,
    )
