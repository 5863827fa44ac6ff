"""A batch sampler that groups items of similar length, shuffled deterministically per epoch."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import Sampler


def padding_fraction(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> float:
    """Share of padded positions when every batch is padded to its longest item.

    ``1 - sum(lengths) / sum(B_b * max_len_b)`` over batches ``b``.
    """
    real = padded = 0
    for batch in batches:
        batch_lengths = [lengths[i] for i in batch]
        real += sum(batch_lengths)
        padded += len(batch_lengths) * max(batch_lengths)
    return 1.0 - real / padded if padded else 0.0


class BucketBatchSampler(Sampler[list[int]]):
    """Yield batches of dataset indices whose lengths are close, so padding stays small.

    Each epoch the indices are shuffled with a generator seeded by ``seed + epoch`` (call
    :meth:`set_epoch`; Lightning does so automatically), cut into buckets of
    ``bucket_batches`` batches' worth of items, sorted by length inside each bucket, cut into
    batches, and the batch order is shuffled again. The plan depends only on
    ``(seed, epoch, lengths)``, so every DDP rank computes the same plan and takes a disjoint
    share: batch ``k`` goes to rank ``k % num_replicas``. With ``even`` (training) ranks get the
    same number of batches (the last batches are dropped with ``drop_last``, otherwise the first
    ones are repeated), because DDP hangs when one rank runs an extra step. Without ``even``
    (evaluation) every item is served exactly once and ranks may differ by one batch, so
    corpus-level metrics see no duplicates; only when there are fewer items than ranks are
    items repeated (and dropped again by sample id, see :mod:`tasks.harness.eval_records`).

    The sampler is resumable: :meth:`state_dict` holds the epoch and how many of this epoch's
    batches were consumed (:meth:`mark_consumed`, called by the training loop's callback
    :class:`tasks.harness.resumption.ResumableTraining`), and after :meth:`load_state_dict` the
    next iteration skips those batches, so a run resumed mid-epoch neither repeats nor skips
    a batch.

    SortaGrad (Amodei et al. 2016, Deep Speech 2): in the first ``sortagrad_epochs`` epochs
    the batches come shortest first (items shuffled, then sorted by length), so a model that
    starts from random weights meets short, easy sequences first, which speeds up and
    steadies the start of CTC training.

    Args:
        lengths: length of every item (frames, tokens, ...), ``len(lengths) == len(dataset)``.
        batch_size: items per batch; ignored when ``max_frames`` is set.
        max_frames: when set, batches hold as many items as fit ``B * max_len <= max_frames``
            (an item longer than ``max_frames`` forms a batch of its own).
        shuffle: shuffle items and batches (training); ``False`` sorts all items by length once.
        bucket_batches: how many batches' worth of items are sorted together; larger means
            less padding and less randomness.
        seed: base seed of the per-epoch shuffle.
        drop_last: drop surplus batches instead of repeating batches to equalise ranks.
        sortagrad_epochs: epochs (from 0) whose batches come in increasing length order.
        num_replicas, rank: DDP world size and rank; ``None`` reads them from
            ``torch.distributed`` when it is initialised (1 and 0 otherwise).
        even: give every rank the same number of batches (training); ``False`` serves every
            item once (evaluation).
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int = 16,
        max_frames: int | None = None,
        shuffle: bool = True,
        bucket_batches: int = 50,
        seed: int = 0,
        drop_last: bool = False,
        num_replicas: int | None = None,
        rank: int | None = None,
        sortagrad_epochs: int = 0,
        even: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be >= 1 or None, got {max_frames}")
        if len(lengths) == 0:
            raise ValueError("BucketBatchSampler needs at least one item")
        self.lengths = [int(n) for n in lengths]
        self.batch_size = batch_size
        self.max_frames = max_frames
        self.shuffle = shuffle
        self.bucket_batches = bucket_batches
        self.seed = seed
        self.drop_last = drop_last
        self.sortagrad_epochs = sortagrad_epochs
        self._num_replicas = num_replicas
        self._rank = rank
        self.even = even
        self.epoch = 0
        self.consumed = 0  # batches of ``epoch`` the training loop has taken (for state_dict)
        self._skip = 0  # batches the next iteration skips (set by load_state_dict)

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.consumed = self._skip = 0
        self.epoch = epoch

    def mark_consumed(self, epoch: int, batches: int, epoch_batches: int) -> None:
        """Record that the training loop has taken ``batches`` of the ``epoch_batches``
        batches it runs in ``epoch``; a finished epoch is recorded as the start of the next."""
        if batches >= epoch_batches:
            epoch, batches = epoch + 1, 0
        self.epoch, self.consumed = epoch, batches

    def state_dict(self) -> dict[str, int]:
        """``{epoch, consumed, num_replicas, seed}``: where a resumed run continues."""
        return {
            "epoch": self.epoch,
            "consumed": self.consumed,
            "num_replicas": self.num_replicas,
            "seed": self.seed,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue at ``state``: the next iteration serves ``epoch``'s batches after the
        ``consumed`` ones. Raises ``ValueError`` when the world size or seed differ (the
        batch plan would not be the one the checkpoint was taken in)."""
        for key in ("num_replicas", "seed"):
            if int(state[key]) != getattr(self, key):
                raise ValueError(
                    f"sampler state from a run with {key}={state[key]} cannot resume with "
                    f"{key}={getattr(self, key)}: resume with the same trainer devices/num_nodes "
                    "and data seed, or start from an end-of-epoch checkpoint"
                )
        self.epoch = int(state["epoch"])
        self.consumed = self._skip = int(state["consumed"])

    @property
    def num_replicas(self) -> int:
        if self._num_replicas is not None:
            return self._num_replicas
        return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1

    @property
    def rank(self) -> int:
        if self._rank is not None:
            return self._rank
        return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0

    def all_batches(self) -> list[list[int]]:
        """This epoch's batches for all ranks together, in plan order."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        n = len(self.lengths)
        if not self.shuffle:
            return self._cut(sorted(range(n), key=self.lengths.__getitem__))
        order = torch.randperm(n, generator=generator).tolist()
        if self.epoch < self.sortagrad_epochs:
            return self._cut(sorted(order, key=self.lengths.__getitem__))
        bucket = max(1, self.bucket_batches * self._typical_batch_items())
        batches: list[list[int]] = []
        for start in range(0, n, bucket):
            chunk = sorted(order[start : start + bucket], key=self.lengths.__getitem__)
            batches.extend(self._cut(chunk))
        permutation = torch.randperm(len(batches), generator=generator).tolist()
        return [batches[k] for k in permutation]

    def rank_batches(self) -> list[list[int]]:
        """This epoch's batches for this rank: ``len(...)`` is equal on every rank with
        ``even``, and differs by at most one otherwise."""
        batches = self.all_batches()
        world = self.num_replicas
        if not self.even:
            if len(batches) < world:  # every rank needs a batch, or the others wait for it
                items = [[i] for batch in batches for i in batch]
                batches = [items[k % len(items)] for k in range(max(world, len(items)))]
            return batches[self.rank :: world]
        if self.drop_last:
            batches = batches[: len(batches) - len(batches) % world]
        else:
            surplus = -len(batches) % world
            batches = batches + [batches[k % len(batches)] for k in range(surplus)]
        return batches[self.rank :: world]

    def padding_fraction(self) -> float:
        """Padding share of this rank's batches this epoch (see :func:`padding_fraction`)."""
        return padding_fraction(self.rank_batches(), self.lengths)

    def __iter__(self) -> Iterator[list[int]]:
        skip, self._skip = self._skip, 0
        yield from self.rank_batches()[skip:]

    def __len__(self) -> int:
        return len(self.rank_batches())

    def _typical_batch_items(self) -> int:
        if self.max_frames is None:
            return self.batch_size
        mean_length = sum(self.lengths) / len(self.lengths)
        return max(1, int(self.max_frames // max(mean_length, 1)))

    def _cut(self, sorted_indices: list[int]) -> list[list[int]]:
        """Cut length-sorted indices into consecutive batches (by count or by frame budget)."""
        if self.max_frames is None:
            size = self.batch_size
            return [sorted_indices[i : i + size] for i in range(0, len(sorted_indices), size)]
        batches: list[list[int]] = []
        current: list[int] = []
        longest = 0
        for index in sorted_indices:
            length = self.lengths[index]
            if current and (len(current) + 1) * max(longest, length) > self.max_frames:
                batches.append(current)
                current, longest = [], 0
            current.append(index)
            longest = max(longest, length)
        if current:
            batches.append(current)
        return batches
