"""Exact mid-epoch resume: the sampler position and the random-number state in checkpoints."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch


def capture_rng() -> dict[str, Any]:
    """The global RNG states (python, numpy, torch CPU and CUDA) as plain data, so the
    checkpoint loads with ``torch.load(weights_only=True)``."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    """Set the global RNG states saved by :func:`capture_rng`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy = state["numpy"]
    np.random.set_state(
        (
            numpy["kind"],
            numpy["keys"].numpy().astype(np.uint32),
            numpy["position"],
            numpy["has_gauss"],
            numpy["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def resumable_samplers(trainer: pl.Trainer) -> Iterator[Any]:
    """The batch samplers of the training loaders that record their position."""
    loaders = trainer.train_dataloader
    if isinstance(loaders, Mapping):
        loaders = list(loaders.values())
    for loader in loaders if isinstance(loaders, list | tuple) else [loaders]:
        sampler = getattr(loader, "batch_sampler", None)
        if hasattr(sampler, "mark_consumed"):
            yield sampler


class ResumableTraining(pl.Callback):
    """Make ``ckpt_path=...`` continue a run as if it had never stopped.

    * At every epoch start the training samplers get the epoch (Lightning 2.6 calls
      ``set_epoch`` only on ``loader.sampler`` and ``loader.batch_sampler.sampler``, never on
      a batch sampler itself, so without this every epoch would repeat epoch 0's order).
    * Before every training batch the training samplers learn how many batches of the epoch
      the loop has taken, so the loader state Lightning writes into a checkpoint
      (:class:`tasks.batching.resumable_loader.ResumableDataLoader`) resumes right after the
      last trained batch, also for step-interval checkpoints in the middle of an epoch.
    * On resume the loader state is applied at train start: Lightning 2.6 creates the
      training loader while ``configure_optimizers`` reads ``estimated_stepping_batches``,
      before it restores the loop state, and then never hands that state to the loader.
    * The global RNG state at save time goes into the checkpoint (``callbacks`` entry) and is
      restored just before the first training batch of the resumed run, after sanity
      validation and loader start-up, so dropout masks and augmentation draws continue as in
      an uninterrupted run. Under DDP rank 0's state is saved and restored on every rank
      (ranks are seeded alike by ``seed_everything``).
    """

    def __init__(self) -> None:
        self.pending_rng: dict[str, Any] | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        fit_loop = trainer.fit_loop
        if not fit_loop._combined_loader_states_to_load:
            return
        fit_loop._load_combined_loader_states()
        if fit_loop._data_fetcher is not None:
            iter(fit_loop._data_fetcher)  # restart the iterator at the loaded position

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for sampler in resumable_samplers(trainer):
            sampler.set_epoch(trainer.current_epoch)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self.pending_rng is not None:
            restore_rng(self.pending_rng)
            self.pending_rng = None
        for sampler in resumable_samplers(trainer):
            sampler.mark_consumed(
                trainer.current_epoch, batch_idx + 1, int(trainer.num_training_batches)
            )

    def state_dict(self) -> dict[str, Any]:
        return {"rng": capture_rng()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.pending_rng = state_dict.get("rng")
