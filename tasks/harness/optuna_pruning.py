"""Report the validation curve of a sweep's job to its Optuna trial and stop a pruned trial.

``conf/hparams_search/optuna.yaml`` adds this callback to every job of an Optuna sweep. The job
opens the sweep's study storage (the sweeper may run in another process or on another machine)
and finds its trial by number (``hydra.job.num``); see ``hydra_plugins/lstmkit_optuna_sweeper``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import optuna
import pytorch_lightning as pl
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from hydra_plugins.lstmkit_optuna_sweeper.study import load_trial

log = logging.getLogger(__name__)


class OptunaPruning(pl.Callback):
    """After each validation epoch: ``trial.report(monitor, epoch)``; when the pruner says so,
    every rank raises :class:`optuna.TrialPruned` and the sweeper records the trial as ``PRUNED``.

    Only global rank 0 talks to the storage; its decision is broadcast so that all DDP ranks
    leave ``fit`` at the same point.

    Args:
        monitor: the metric of ``trainer.callback_metrics`` to report (``task.monitor``).
        storage: ``hydra.sweeper.storage`` (journal path or database URL; ``None``: in memory,
            which a job cannot reach, so nothing is reported).
        study_name: ``hydra.sweeper.study_name``.
        trial_number: the job's trial, ``hydra.job.num``.
        pruner: ``hydra.sweeper.pruner``; ``None`` reports without pruning.
    """

    def __init__(
        self,
        monitor: str,
        storage: str | None,
        study_name: str,
        trial_number: int,
        pruner: optuna.pruners.BasePruner | None = None,
    ) -> None:
        self.monitor = monitor
        self.storage = storage
        self.study_name = study_name
        self.trial_number = trial_number
        self.pruner = pruner or optuna.pruners.NopPruner()
        self.trial: optuna.Trial | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or not trainer.is_global_zero:
            return
        if self.storage is None:
            log.warning("hydra.sweeper.storage is null: the validation curve is not reported")
            return
        self.trial = load_trial(self.storage, self.study_name, self.trial_number, self.pruner)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        epoch = trainer.current_epoch
        message = None
        if self.trial is not None:
            value = trainer.callback_metrics.get(self.monitor)
            if value is None:
                raise KeyError(
                    f"task.monitor {self.monitor!r} was not logged in validation; logged: "
                    f"{sorted(trainer.callback_metrics)}"
                )
            self.trial.report(float(value), step=epoch)
            if self.trial.should_prune():
                message = f"{self.monitor}={float(value):.4g} at epoch {epoch}"
        message = trainer.strategy.broadcast(message)
        if message is not None:
            raise optuna.TrialPruned(message)


@contextmanager
def pruned_trial_ends_quietly_off_rank_zero() -> Iterator[None]:
    """Let :class:`optuna.TrialPruned` end a DDP rank other than 0 without an error.

    Rank 0 reports the pruned trial to the sweeper. An extra rank that Lightning started as a
    process of its own would otherwise exit with an error, and Lightning then kills the
    launching process: the sweep itself under the basic launcher.
    """
    try:
        yield
    except optuna.TrialPruned:
        if rank_zero_only.rank == 0:
            raise
        log.info("rank %d: trial pruned", rank_zero_only.rank)
