"""Length-bucketed batching shared by every task: a DDP-aware bucket sampler and padding collate."""

from tasks.batching.bucket_sampler import BucketBatchSampler, padding_fraction
from tasks.batching.collate import pad_collate, pad_sequences
from tasks.batching.loader_options import LoaderOptions

__all__ = [
    "BucketBatchSampler",
    "LoaderOptions",
    "pad_collate",
    "pad_sequences",
    "padding_fraction",
]
