"""``scripts/train.py``: build data + module from the config, fit, test, write the run summary."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from pytorch_lightning.callbacks import ModelCheckpoint

from tasks.harness.atomic_checkpoint import AtomicCheckpointIO
from tasks.harness.callbacks import FrozenModulesEval
from tasks.harness.checkpoint import (
    find_checkpoint,
    load_checkpoint,
    module_class,
    newest_checkpoint_in,
)
from tasks.harness.datamodule import TaskDataModule
from tasks.harness.errors import ConfigError
from tasks.harness.finetune import freeze, init_from
from tasks.harness.host_memory import reuse_freed_host_memory
from tasks.harness.module import parameter_counts
from tasks.harness.plain import to_plain
from tasks.harness.plots import plot_learning_curves
from tasks.harness.preemption import Preempted
from tasks.harness.resumption import ResumableTraining
from tasks.harness.run_config import validate_data, validate_run_config
from tasks.harness.summary import plain_metrics, summary_table, write_summary

log = logging.getLogger(__name__)


def build_datamodule(data_cfg: Any) -> TaskDataModule:
    """The datamodule of a ``data`` config, checked against its schema first."""
    validate_data(data_cfg)
    return hydra.utils.instantiate(data_cfg, _convert_="all")


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate every non-null ``_target_`` entry of a ``callbacks``/``logger`` group."""
    if not group:
        return []
    return [hydra.utils.instantiate(c) for c in group.values() if c is not None and "_target_" in c]


def check_precision(trainer_cfg: DictConfig) -> None:
    """Refuse ``16-mixed`` on CPU: Lightning would silently train in bfloat16 instead."""
    accelerator = trainer_cfg.get("accelerator", "auto")
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    if str(trainer_cfg.get("precision")) == "16-mixed" and on_cpu:
        raise ConfigError(
            "trainer.precision=16-mixed: float16 mixed precision needs a GPU (trainer=gpu); "
            "on CPU use trainer.precision=bf16-mixed or 32-true"
        )


def build_trainer(cfg: DictConfig, extra_callbacks: list[pl.Callback]) -> pl.Trainer:
    """The configured Trainer with the config's callbacks and loggers, plus the harness's own:
    exact mid-epoch resume (:class:`ResumableTraining`) and atomic checkpoint files
    (:class:`AtomicCheckpointIO`, unless ``trainer.plugins`` is set)."""
    check_precision(cfg.trainer)
    callbacks = instantiate_all(cfg.get("callbacks")) + extra_callbacks + [ResumableTraining()]
    plugins = {} if cfg.trainer.get("plugins") else {"plugins": [AtomicCheckpointIO()]}
    return hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=instantiate_all(cfg.get("logger")), **plugins
    )


def resume_checkpoint(cfg: DictConfig, run_dir: Path) -> Path | None:
    """``ckpt_path`` resolved, or the newest checkpoint the run directory already holds (a
    requeued SLURM job restarting in ``slurm-<job id>``), or None for a fresh run."""
    if cfg.ckpt_path:
        return find_checkpoint(cfg.ckpt_path, cfg.paths.runs_dir)
    return newest_checkpoint_in(run_dir)


def best_checkpoint(trainer: pl.Trainer) -> tuple[str | None, str | None, float | None]:
    """``(best path, last path, best monitored score)`` of the run's ModelCheckpoint."""
    callback = trainer.checkpoint_callback
    if not isinstance(callback, ModelCheckpoint):
        return None, None, None
    score = callback.best_model_score
    return (
        callback.best_model_path or None,
        callback.last_model_path or None,
        float(score) if score is not None else None,
    )


def train(cfg: DictConfig) -> float | None:
    """Fit (unless ``train=false``), test the best checkpoint (unless ``test=false``) and write
    ``summary.json``. Returns the best value of ``task.monitor`` (for sweepers)."""
    started = time.perf_counter()
    validate_run_config(cfg)
    reuse_freed_host_memory(cfg.host_memory_reuse_mb)
    pl.seed_everything(cfg.seed, workers=True)
    run_dir = Path(cfg.paths.output_dir)

    datamodule = build_datamodule(cfg.data)
    resume = resume_checkpoint(cfg, run_dir)
    if resume is not None:
        log.info("resuming from %s", resume)
        datamodule.load_artifacts(load_checkpoint(resume)["hyper_parameters"]["artifacts"])
    datamodule.prepare_data()
    datamodule.setup("fit")
    artifacts = datamodule.artifacts()

    cls = module_class(cfg.task.module)
    module = cls(model=cfg.model, optim=cfg.optim, artifacts=artifacts)
    module.run_config = to_plain(cfg, "config")
    if cfg.init_from and resume is None:
        init_from(module, cfg.init_from)
    frozen = freeze(module, cfg.freeze or [])
    trainer = build_trainer(cfg, [FrozenModulesEval(frozen)] if frozen else [])

    fit_started = time.perf_counter()
    if cfg.train:
        try:
            trainer.fit(
                module,
                datamodule=datamodule,
                ckpt_path=str(resume) if resume else None,
                weights_only=True,  # checkpoints hold plain data only: never unpickle code
            )
        except Preempted as stop:
            log.warning("%s", stop)
            raise SystemExit(stop.exit_code) from None
    fit_time_s = round(time.perf_counter() - fit_started, 3)
    best_path, last_path, best_score = best_checkpoint(trainer)
    test_metrics: dict[str, float] = {}
    if cfg.test:
        results = trainer.test(
            module, datamodule=datamodule, ckpt_path=best_path, weights_only=True
        )
        test_metrics = plain_metrics(results[0]) if results else {}

    if trainer.is_global_zero:
        n_params, n_trainable = parameter_counts(module)
        summary = {
            **test_metrics,
            "task": cfg.task.name,
            "run_dir": str(run_dir),
            "checkpoint": best_path,
            "last_checkpoint": last_path,
            f"best/{cfg.task.monitor}": best_score,
            "epochs": trainer.current_epoch,
            "global_step": trainer.global_step,
            "parameters": n_params,
            "trainable_parameters": n_trainable,
            "seed": cfg.seed,
            "wall_time_s": round(time.perf_counter() - started, 3),
            "fit_time_s": fit_time_s,
        }
        write_summary(run_dir, summary)
        plot_learning_curves(run_dir)
        log.info("run summary (%s):\n%s", run_dir / "summary.json", summary_table(summary))
    return best_score
