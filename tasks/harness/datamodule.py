"""Base class of every task's LightningDataModule."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset

from tasks.batching import BucketBatchSampler
from tasks.batching.resumable_loader import numbered_loader


class TaskDataModule(pl.LightningDataModule, ABC):
    """A task's datamodule: ``prepare_data`` builds/caches the corpus, ``setup`` loads splits.

    The harness calls ``prepare_data()`` then ``setup(stage)`` itself before building the
    module, and Lightning calls them again inside ``fit``/``test``: both must be idempotent
    (cache what they load).

    Artifacts are what the model needs from the training data (vocabulary as
    ``Vocabulary.to_list()``, label list, feature statistics as tensors), as plain containers.
    A fresh run reads :meth:`artifacts` after ``setup("fit")``. Eval, predict and resume give
    the checkpoint's artifacts back through :meth:`load_artifacts` *before* ``setup``; the
    datamodule must then encode data with them instead of recomputing them.

    Subclasses that serve batches through :meth:`bucketed_loader` set ``batch_size``,
    ``eval_batch_size``, ``bucket_batches``, ``seed`` and ``num_workers``, and may set
    ``sortagrad_epochs`` (see :class:`tasks.batching.BucketBatchSampler`).
    """

    config_schema: ClassVar[type]
    """Dataclass of the ``data`` config that builds this datamodule (its keyword arguments
    and ``_target_``), checked by :func:`tasks.harness.train.build_datamodule`."""

    batch_size: int
    eval_batch_size: int
    bucket_batches: int
    seed: int
    num_workers: int
    sortagrad_epochs: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.fixed_artifacts: dict[str, Any] | None = None

    def load_artifacts(self, artifacts: dict[str, Any]) -> None:
        """Use ``artifacts`` (from a checkpoint) instead of computing them from the data."""
        self.fixed_artifacts = artifacts

    @abstractmethod
    def artifacts(self) -> dict[str, Any]:
        """Plain-container artifacts; ``fixed_artifacts`` when loaded, else from the train split."""

    def bucketed_loader(
        self,
        dataset: Dataset,
        lengths: Sequence[int],
        *,
        training: bool,
        collate_fn: Callable[[list[Any]], Any],
        max_frames: int | None = None,
    ) -> DataLoader:
        """Batches of items of similar length (``lengths[i]`` is item ``i``'s), so padding
        stays small: reshuffled every epoch when ``training``, in a fixed order otherwise,
        and sharded across processes by the sampler under DDP (training: the same number of
        batches on every rank; evaluation: every item exactly once). ``max_frames`` caps
        ``batch size x longest item`` per training batch instead of ``batch_size``.

        Batches carry ``sample_ids`` (dataset indices, see
        :mod:`tasks.batching.resumable_loader`) and the loader resumes mid-epoch from a
        checkpoint."""
        sampler = BucketBatchSampler(
            lengths,
            batch_size=self.batch_size if training else self.eval_batch_size,
            max_frames=max_frames if training else None,
            shuffle=training,
            bucket_batches=self.bucket_batches,
            seed=self.seed,
            sortagrad_epochs=self.sortagrad_epochs if training else 0,
            even=training,
        )
        return numbered_loader(dataset, sampler, collate_fn, self.num_workers, self.seed)
