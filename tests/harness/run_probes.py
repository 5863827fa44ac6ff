"""Callbacks that let tests watch and interrupt a training subprocess.

Added from the command line: ``+callbacks.batch_log._target_=tests.harness.run_probes.BatchLog``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

PAUSE_LIMIT_S = 120.0


class BatchLog(pl.Callback):
    """Append one JSON line per training batch, as it starts, to ``path``: the global step it
    makes, the epoch, the batch's ``sample_ids`` and the learning rate it is trained with
    (the scheduler steps after the batch). Each line is flushed, so the file survives
    ``kill -9``."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, i: int
    ) -> None:
        record = {
            "step": trainer.global_step + 1,
            "epoch": trainer.current_epoch,
            "ids": list(batch["sample_ids"]),
            "lr": trainer.optimizers[0].param_groups[0]["lr"],
        }
        with open(self.path, "a") as out:
            out.write(json.dumps(record) + "\n")


class PauseAt(pl.Callback):
    """Before the batch that would make global step ``step + 1``, write ``marker`` and wait
    (polling) until the process receives SIGTERM, so a test can kill or signal it at a known
    point. Gives up with an error after ``PAUSE_LIMIT_S``."""

    def __init__(self, step: int, marker: str) -> None:
        self.step = step
        self.marker = Path(marker)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, i: int
    ) -> None:
        if trainer.global_step != self.step or self.marker.exists():
            return
        self.marker.write_text(str(self.step))
        deadline = time.monotonic() + PAUSE_LIMIT_S
        while not trainer.received_sigterm:
            if time.monotonic() > deadline:
                raise TimeoutError(f"PauseAt: no signal within {PAUSE_LIMIT_S} s")
            time.sleep(0.02)


def read_batch_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]
