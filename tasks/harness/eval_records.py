"""Per-sample evaluation records gathered from every DDP rank for corpus-level metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch.distributed as dist

from tasks.batching.resumable_loader import SAMPLE_IDS

Record = dict[str, Any]
"""One evaluated sample: ``{"id": dataset index, <column>: value, ...}`` (plain values)."""


def batch_records(batch: Mapping[str, Any], columns: Mapping[str, Sequence[Any]]) -> list[Record]:
    """One record per row of ``batch``: its sample id plus the row's entry of every column
    (``columns[name][b]`` for row ``b``; each column has one entry per row)."""
    ids = batch[SAMPLE_IDS]
    for name, values in columns.items():
        if len(values) != len(ids):
            raise ValueError(f"column {name!r} has {len(values)} entries for {len(ids)} samples")
    return [
        {"id": int(sample), **{name: values[b] for name, values in columns.items()}}
        for b, sample in enumerate(ids)
    ]


def gather_records(records: list[Record]) -> list[Record]:
    """Every rank's records, each sample once, in sample-id order.

    Corpus-level metrics (CER/WER over all errors, BLEU/CIDEr-D over all captions, accuracy
    and F1 from one confusion matrix) are not averages of per-rank values, so each rank needs
    all predictions: ``all_gather_object`` collects them. Sorting by id makes the metric input
    the same whatever the number of processes, and keeping one record per id drops the
    duplicates a sampler adds when a split has fewer items than ranks.
    """
    records = [record for shard in gather_objects(records) for record in shard]
    unique = {record["id"]: record for record in records}
    return [unique[sample] for sample in sorted(unique)]


def gather_objects(value: Any) -> list[Any]:
    """``[value of rank 0, value of rank 1, ...]`` (``[value]`` without DDP)."""
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return [value]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def weighted_means(shards: Sequence[Mapping[str, tuple[float, int]]]) -> dict[str, float]:
    """``sum / count`` per name over every rank's ``{name: (weighted sum, count)}``.

    Lightning's own ``sync_dist`` mean divides the summed integer batch count by the world
    size in integer arithmetic (2 ranks with 3 + 2 samples count 2, not 2.5), so evaluation
    means are reduced here from exact sums instead."""
    totals: dict[str, list[float]] = {}
    for shard in shards:
        for name, (weighted, count) in shard.items():
            total = totals.setdefault(name, [0.0, 0])
            total[0] += weighted
            total[1] += count
    return {name: weighted / count for name, (weighted, count) in totals.items() if count}
