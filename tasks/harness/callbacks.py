"""Lightning callbacks added by the harness."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl


class PaddingFractionMonitor(pl.Callback):
    """Log ``train/padding_fraction`` each epoch when the training loader's batch sampler
    reports one (see :class:`tasks.batching.BucketBatchSampler`)."""

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        loader = trainer.train_dataloader
        sampler = getattr(loader, "batch_sampler", None)
        if hasattr(sampler, "padding_fraction"):
            pl_module.log("train/padding_fraction", sampler.padding_fraction(), on_epoch=True)


class FrozenModulesEval(pl.Callback):
    """Keep frozen submodules in eval mode: Lightning switches the whole model to train mode
    at the start of every epoch and after each validation run."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        for name in self.names:
            pl_module.get_submodule(name).eval()
