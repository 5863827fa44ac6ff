"""``scripts/eval.py``: test a checkpoint on its own data config (or an override)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from tasks.harness.checkpoint import build_module, find_checkpoint, load_checkpoint
from tasks.harness.errors import ConfigError
from tasks.harness.host_memory import reuse_freed_host_memory
from tasks.harness.module import parameter_counts
from tasks.harness.run_config import validate_run_config
from tasks.harness.summary import plain_metrics, summary_table, write_summary
from tasks.harness.train import build_datamodule, build_trainer

log = logging.getLogger(__name__)


def data_selected() -> bool:
    """Whether the command line chose the data (``task=``, ``data=`` or ``data.<key>=``);
    otherwise the default task's data config is composed but the checkpoint's is meant."""
    if not HydraConfig.initialized():
        return True
    keys = (o.split("=", 1)[0].lstrip("+~") for o in HydraConfig.get().overrides.task)
    return any(k in ("task", "data") or k.startswith("data.") for k in keys)


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test ``cfg.ckpt`` and write ``summary.json`` into the eval run directory.

    The data config is the one saved in the checkpoint unless ``task=``/``data=`` is given on
    the command line; the datamodule encodes with the checkpoint's artifacts (vocabulary,
    labels, statistics).
    """
    started = time.perf_counter()
    if data_selected():
        validate_run_config(cfg)
    reuse_freed_host_memory(cfg.host_memory_reuse_mb)
    pl.seed_everything(cfg.seed, workers=True)
    path = find_checkpoint(cfg.ckpt, cfg.paths.runs_dir)
    module = build_module(load_checkpoint(path))
    data_cfg = cfg.data if data_selected() else module.run_config.get("data")
    if not data_cfg:
        raise ConfigError(f"checkpoint {path} has no data config: pass data=<name>")
    datamodule = build_datamodule(data_cfg)
    datamodule.load_artifacts(module.hparams["artifacts"])
    datamodule.prepare_data()
    datamodule.setup("test")
    trainer = build_trainer(cfg, [])
    results = trainer.test(module, datamodule=datamodule)
    metrics = plain_metrics(results[0]) if results else {}
    if trainer.is_global_zero:
        run_dir = Path(cfg.paths.output_dir)
        summary = {
            **metrics,
            "task": module.run_config.get("task", {}).get("name"),
            "run_dir": str(run_dir),
            "checkpoint": str(path),
            "parameters": parameter_counts(module)[0],
            "wall_time_s": round(time.perf_counter() - started, 3),
        }
        write_summary(run_dir, summary)
        log.info("eval summary (%s):\n%s", run_dir / "summary.json", summary_table(summary))
    return metrics
