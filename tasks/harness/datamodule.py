"""Base class of every task's LightningDataModule."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset

from tasks.batching import BucketBatchSampler, LoaderOptions
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

    Every datamodule takes the shared loader options (:class:`tasks.batching.LoaderOptions`:
    ``batch_size``, ``eval_batch_size``, ``bucket_batches``, ``num_workers``, ``seed``) as
    keyword arguments next to its own and hands them here; :meth:`bucketed_loader` batches
    with them.

    Args:
        loader: the shared loader options.
    """

    config_schema: ClassVar[type]
    """Dataclass of the ``data`` config that builds this datamodule (its keyword arguments
    and ``_target_``), checked by :func:`tasks.harness.train.build_datamodule`."""

    def __init__(self, loader: LoaderOptions) -> None:
        super().__init__()
        self.loader_options = loader
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
        sortagrad_epochs: int = 0,
    ) -> DataLoader:
        """Batches of items of similar length (``lengths[i]`` is item ``i``'s), so padding
        stays small: reshuffled every epoch when ``training``, in a fixed order otherwise,
        and sharded across processes by the sampler under DDP (training: the same number of
        batches on every rank; evaluation: every item exactly once). ``max_frames`` caps
        ``batch size x longest item`` per training batch instead of ``batch_size``; the
        first ``sortagrad_epochs`` training epochs come shortest first (tasks without these
        options leave them unset).

        Batches carry ``sample_ids`` (dataset indices, see
        :mod:`tasks.batching.resumable_loader`) and the loader resumes mid-epoch from a
        checkpoint."""
        options = self.loader_options
        sampler = BucketBatchSampler(
            lengths,
            batch_size=options.batch_size if training else options.eval_batch_size,
            max_frames=max_frames if training else None,
            shuffle=training,
            bucket_batches=options.bucket_batches,
            seed=options.seed,
            sortagrad_epochs=sortagrad_epochs if training else 0,
            even=training,
        )
        return numbered_loader(dataset, sampler, collate_fn, options.num_workers, options.seed)
