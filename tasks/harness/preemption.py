"""Save ``last.ckpt`` and stop at the next batch boundary when the job is being preempted."""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import pytorch_lightning as pl
from lightning_fabric.plugins.environments import SLURMEnvironment

from tasks.harness.checkpoint import CHECKPOINT_DIR, LAST_FILE

log = logging.getLogger(__name__)


class Preempted(Exception):
    """Training stopped on a signal after saving ``checkpoint``; the entry point exits with
    status ``128 + signum``, the shell's status of a process ended by that signal."""

    def __init__(self, signum: int, checkpoint: Path, requeued: bool) -> None:
        self.signum, self.checkpoint, self.requeued = signum, checkpoint, requeued
        name = signal.Signals(signum).name
        then = "job requeued" if requeued else f"resume with ckpt_path={checkpoint.parent.parent}"
        super().__init__(f"stopped by {name}: checkpoint {checkpoint} saved; {then}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class PreemptionCheckpoint(pl.Callback):
    """On ``signals`` (SIGTERM: ``kill``, SLURM's time limit and preemption; SIGUSR1: SLURM's
    ``--signal=USR1@<seconds>`` warning) finish the current training batch, write
    ``<run>/checkpoints/last.ckpt`` and stop by raising :class:`Preempted`.

    The handler only sets a flag: the checkpoint is taken between batches, where the loop,
    optimizer and sampler states agree, so the resumed run continues with the next batch.
    Under DDP the ranks agree on the flag at every batch end (any rank that saw a signal
    stops all). Under SLURM (``SLURMEnvironment.job_id()``) with ``requeue`` rank 0 also runs
    ``scontrol requeue <job id>``; the requeued job finds the same run directory
    (``outputs/<task>/runs/slurm-<job id>``) and resumes from this checkpoint. The handler
    replaces Lightning's SLURM SIGUSR1 handler (which saves ``hpc_ckpt_<n>.ckpt`` from inside
    the signal handler, mid-step).

    A signal that arrives during validation stops the run after Lightning's own SIGTERM
    handling (no checkpoint); the run then resumes from the last interval checkpoint.

    Args:
        signals: signal names to handle.
        requeue: under SLURM, requeue the job after saving.
    """

    def __init__(self, signals: Sequence[str] = ("SIGTERM", "SIGUSR1"), requeue: bool = True):
        try:
            self.signals = [signal.Signals[name] for name in signals]
        except KeyError as error:
            raise ValueError(
                f"callbacks.preemption.signals: unknown signal {error}; use names like SIGTERM"
            ) from None
        self.requeue = requeue
        self.received: int | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        previous = self._previous.get(signal.Signals(signum))
        if callable(previous):
            previous(signum, frame)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # Before Lightning registers its own handlers (which keep ours and call it too).
        if stage != "fit" or threading.current_thread() is not threading.main_thread():
            return
        self.received = None
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._handle)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        stop = self.received is not None
        if trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if not stop:
            return
        signum = self.received or signal.SIGTERM
        path = Path(trainer.default_root_dir) / CHECKPOINT_DIR / LAST_FILE
        trainer.save_checkpoint(path)
        requeued = self.requeue and self._requeue(trainer)
        raise Preempted(signum, path, requeued)

    def _requeue(self, trainer: pl.Trainer) -> bool:
        """``scontrol requeue`` this SLURM job from rank 0; False outside SLURM."""
        job_id = SLURMEnvironment.job_id()
        if job_id is None:
            return False
        if trainer.is_global_zero:
            result = subprocess.run(["scontrol", "requeue", str(job_id)], check=False)
            if result.returncode != 0:
                log.warning("scontrol requeue %s failed with status %d", job_id, result.returncode)
        return True
