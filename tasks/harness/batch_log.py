"""A JSON-lines record of the batches a run trains on, for checking data order and resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from tasks.batching.resumable_loader import SAMPLE_IDS


class BatchLog(pl.Callback):
    """Append one line per training batch, as it starts, to ``path``: ``step`` (the global
    step it makes), ``epoch``, ``ids`` (its ``sample_ids``) and ``lr`` (the learning rate it
    is trained with; the scheduler steps after the batch). Rank 0 writes; every line is
    flushed, so the file survives ``kill -9``.

    Add it with ``+callbacks.batch_log._target_=tasks.harness.batch_log.BatchLog
    +callbacks.batch_log.path=<file>``.
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if not trainer.is_global_zero:
            return
        record = {
            "step": trainer.global_step + 1,
            "epoch": trainer.current_epoch,
            "ids": list(batch[SAMPLE_IDS]),
            "lr": trainer.optimizers[0].param_groups[0]["lr"],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as out:
            out.write(json.dumps(record) + "\n")


def read_batch_log(path: str | Path) -> list[dict[str, Any]]:
    """The records of a :class:`BatchLog` file, in order."""
    return [json.loads(line) for line in Path(path).read_text().splitlines()]
