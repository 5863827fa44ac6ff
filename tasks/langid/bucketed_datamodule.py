"""Length-bucketed loaders shared by the written and the spoken language-ID datamodules."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Any

from torch.utils.data import DataLoader, Dataset

from tasks.batching import BucketBatchSampler
from tasks.harness.datamodule import TaskDataModule


class BucketedLangIDDataModule(TaskDataModule):
    """Serves the encoded splits (``self.encoded[stage]``, filled by ``setup``) in batches of
    similar length, shuffled per epoch for training and sharded under DDP by the sampler.

    Subclasses set ``batch_size``, ``eval_batch_size``, ``bucket_batches``, ``seed`` and
    ``num_workers``, and say how long an item is and how a batch is collated.
    """

    encoded: dict[str, Dataset]
    collate_fn: Callable[[list[Any]], dict[str, Any]]

    @abstractmethod
    def item_lengths(self, data: Dataset) -> list[int]:
        """Length of every item of ``data`` (characters, bytes or frames)."""

    def loader(self, stage: str) -> DataLoader:
        data = self.encoded[stage]
        training = stage == "train"
        sampler = BucketBatchSampler(
            self.item_lengths(data),
            batch_size=self.batch_size if training else self.eval_batch_size,
            shuffle=training,
            bucket_batches=self.bucket_batches,
            seed=self.seed,
        )
        return DataLoader(
            data, batch_sampler=sampler, collate_fn=self.collate_fn, num_workers=self.num_workers
        )

    def train_dataloader(self) -> DataLoader:
        return self.loader("train")

    def val_dataloader(self) -> DataLoader:
        return self.loader("val")

    def test_dataloader(self) -> DataLoader:
        return self.loader("test")
