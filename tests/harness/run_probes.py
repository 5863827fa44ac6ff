"""A callback that lets tests interrupt a training subprocess at a known step.

Added from the command line: ``+callbacks.pause._target_=tests.harness.run_probes.PauseAt``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

PAUSE_LIMIT_S = 120.0


class PauseAt(pl.Callback):
    """Before the batch that would make global step ``step + 1``, write ``marker`` and wait
    (polling) until the process receives SIGTERM or a signal the preemption callback handles
    (SIGUSR1), so a test can kill or signal it at a known point. Gives up with an error after
    ``PAUSE_LIMIT_S``."""

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
        while not signalled(trainer):
            if time.monotonic() > deadline:
                raise TimeoutError(f"PauseAt: no signal within {PAUSE_LIMIT_S} s")
            time.sleep(0.02)


def signalled(trainer: pl.Trainer) -> bool:
    preemption = (getattr(c, "received", None) for c in trainer.callbacks)
    return trainer.received_sigterm or any(r is not None for r in preemption)
