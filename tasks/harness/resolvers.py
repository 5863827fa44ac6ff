"""OmegaConf resolvers for run directories; registered before ``hydra.main`` composes."""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path

from lightning_fabric.plugins.environments import SLURMEnvironment
from omegaconf import OmegaConf

from tasks.harness.checkpoint import LAST, find_checkpoint, load_checkpoint, run_dir_of
from tasks.harness.errors import CheckpointError
from tasks.harness.module import CHECKPOINT_KEY


def unique_dir(root: str) -> str:
    """Create and return ``<root>/<YYYY-mm-dd_HH-MM-SS>_<4 hex>``.

    The directory is created with ``exist_ok=False`` and a fresh suffix is drawn on a clash, so
    two runs started in the same second never share a directory.
    """
    Path(root).mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    while True:
        path = Path(root) / f"{stamp}_{secrets.token_hex(2)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return str(path)


def slurm_job_dir(runs_root: str) -> str | None:
    """``<runs_root>/slurm-<job id>`` in a SLURM batch job (not in interactive sessions): every
    task of a multi-node job and every requeue of the job get this same directory."""
    job_id = SLURMEnvironment.job_id()
    if job_id is None:
        return None
    path = Path(runs_root) / f"slurm-{job_id}"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def train_run_dir(ckpt_path: str | None, runs_root: str) -> str:
    """A new unique run directory (``slurm-<job id>`` in a SLURM batch job, see
    :func:`slurm_job_dir`), or, when resuming (``ckpt_path`` set), the run directory holding
    that checkpoint (``last`` = the latest ``last.ckpt`` under ``runs_root``).

    A checkpoint that cannot be found also gets a new directory: training then stops with the
    one-line :class:`CheckpointError` instead of Hydra's resolver traceback.
    """
    if ckpt_path is None:
        return slurm_job_dir(runs_root) or unique_dir(runs_root)
    try:
        return str(run_dir_of(find_checkpoint(ckpt_path, runs_root)))
    except CheckpointError:
        return unique_dir(runs_root)


def checkpoint_task(ckpt: str | None, fallback: str) -> str:
    """The task name saved in checkpoint ``ckpt`` (a ``.ckpt`` file or a run directory), else
    ``fallback``, the composed ``task.name``.

    Eval and predict outputs of a checkpoint then land in its own task's folder even when the
    command line names no task. ``last`` and unreadable checkpoints give ``fallback``: the entry
    point reports those with its one-line error.
    """
    if ckpt is None or str(ckpt) == LAST:
        return fallback
    try:
        saved = load_checkpoint(find_checkpoint(ckpt))[CHECKPOINT_KEY]["config"]
    except CheckpointError:
        return fallback
    return saved.get("task", {}).get("name") or fallback


def register_resolvers() -> None:
    """Register ``${unique_dir:root}``, ``${train_run_dir:ckpt_path,runs_root}`` and
    ``${checkpoint_task:ckpt,fallback}``.

    Both are cached per config (like Hydra's ``now``), so every read of ``hydra.run.dir`` in
    one run, including Lightning's when it launches DDP workers, gives the same directory.
    """
    OmegaConf.register_new_resolver("unique_dir", unique_dir, use_cache=True, replace=True)
    OmegaConf.register_new_resolver("train_run_dir", train_run_dir, use_cache=True, replace=True)
    OmegaConf.register_new_resolver(
        "checkpoint_task", checkpoint_task, use_cache=True, replace=True
    )
