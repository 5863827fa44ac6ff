"""The loader options every task's datamodule shares (flat ``data.*`` config keys)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LoaderOptions:
    """How a datamodule batches its splits (``data.batch_size``, ``data.eval_batch_size``,
    ``data.bucket_batches``, ``data.num_workers``, ``data.seed``).

    The base of every task's ``data`` schema, and what
    :class:`tasks.harness.datamodule.TaskDataModule` keeps: a datamodule takes these as
    keyword arguments next to its own. No field has a default: the values live in
    ``conf/data/*.yaml``.

    Attributes:
        batch_size: items per training batch.
        eval_batch_size: items per validation/test batch.
        bucket_batches: batches' worth of items sorted by length together
            (:class:`tasks.batching.BucketBatchSampler`): more means less padding, less
            randomness.
        num_workers: DataLoader worker processes.
        seed: seed of the training shuffle.
    """

    batch_size: int
    eval_batch_size: int
    bucket_batches: int
    num_workers: int
    seed: int
