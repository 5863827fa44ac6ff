"""Length-bucketed loaders shared by the written and the spoken language-ID datamodules."""

from __future__ import annotations

from abc import abstractmethod
from collections import Counter
from collections.abc import Callable
from typing import Any

from torch.utils.data import DataLoader, Dataset

from tasks.harness.datamodule import TaskDataModule


class BucketedLangIDDataModule(TaskDataModule):
    """Serves the encoded splits (``self.encoded[stage]``, filled by ``setup``) through
    :meth:`TaskDataModule.bucketed_loader`; subclasses say how long an item is and how a
    batch is collated."""

    encoded: dict[str, Dataset]
    collate_fn: Callable[[list[Any]], dict[str, Any]]
    labels: list[str]

    def train_label_counts(self) -> list[int]:
        """Training items per label, in label order (the class prior of the logit
        adjustment, :class:`tasks.langid.module.LangIDModule`)."""
        counts = Counter(self.encoded["train"].labels)  # type: ignore[attr-defined]
        return [counts[index] for index in range(len(self.labels))]

    @abstractmethod
    def item_lengths(self, data: Dataset) -> list[int]:
        """Length of every item of ``data`` (characters, bytes or frames)."""

    def loader(self, stage: str) -> DataLoader:
        data = self.encoded[stage]
        return self.bucketed_loader(
            data, self.item_lengths(data), training=stage == "train", collate_fn=self.collate_fn
        )

    def train_dataloader(self) -> DataLoader:
        return self.loader("train")

    def val_dataloader(self) -> DataLoader:
        return self.loader("validation")

    def test_dataloader(self) -> DataLoader:
        return self.loader("test")
