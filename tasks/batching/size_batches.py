"""Batches of inputs of similar size, for inference over a fixed list of inputs."""

from __future__ import annotations

from collections.abc import Sequence


def size_batches(
    sizes: Sequence[int], batch_size: int, max_padded_size: int | None = None
) -> list[list[int]]:
    """Indices ``0..N-1`` in order of ``sizes`` (ties in input order), cut into batches of
    at most ``batch_size`` inputs whose padded size, ``len(batch) * max(size in batch)``,
    stays within ``max_padded_size`` (``None``: no such cap; an input larger than the cap
    gets a batch of its own).

    Sorting first keeps a batch's inputs close in size, so little of it is padding; the
    padded cap lets short inputs share large batches while long ones go in small batches,
    which run faster per input on CPU than one large padded batch (docs/langid.md).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    batches: list[list[int]] = []
    for i in sorted(range(len(sizes)), key=sizes.__getitem__):
        # sizes only grow, so the newcomer is its batch's largest: padded = count * sizes[i]
        padded = (len(batches[-1]) + 1) * sizes[i] if batches else 0
        fits = max_padded_size is None or padded <= max_padded_size
        if batches and len(batches[-1]) < batch_size and fits:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches
