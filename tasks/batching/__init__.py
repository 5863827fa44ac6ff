"""Length-bucketed batching shared by every task: a DDP-aware bucket sampler, padding collate
and size-ordered inference batches."""

from tasks.batching.bucket_sampler import BucketBatchSampler, padding_fraction
from tasks.batching.collate import pad_collate, pad_sequences
from tasks.batching.loader_options import LoaderOptions
from tasks.batching.size_batches import size_batches

__all__ = [
    "BucketBatchSampler",
    "LoaderOptions",
    "pad_collate",
    "pad_sequences",
    "padding_fraction",
    "size_batches",
]
