"""Finding and loading checkpoints: ``weights_only`` loading, ``last`` resolution, rebuild."""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path
from typing import Any

import torch

from tasks.harness.checkpoint_upgrade import upgrade_checkpoint
from tasks.harness.errors import CheckpointError
from tasks.harness.module import CHECKPOINT_KEY, TaskModule

LAST = "last"
CHECKPOINT_DIR = "checkpoints"
LAST_FILE = "last.ckpt"


def find_checkpoint(spec: str | Path, runs_root: str | Path | None = None) -> Path:
    """Resolve a checkpoint spec to a file.

    ``spec`` is a ``.ckpt`` file, a run directory (its ``checkpoints/last.ckpt``), or
    ``"last"``: the ``last.ckpt`` most recently written under ``runs_root``.
    """
    if str(spec) == LAST:
        if runs_root is None:
            raise CheckpointError("ckpt_path=last needs a runs directory to search")
        candidates = sorted(
            Path(runs_root).glob(f"*/{CHECKPOINT_DIR}/{LAST_FILE}"), key=lambda p: p.stat().st_mtime
        )
        if not candidates:
            raise CheckpointError(
                f"ckpt_path=last: no {CHECKPOINT_DIR}/{LAST_FILE} under {runs_root}; "
                "pass a run directory or a .ckpt file instead"
            )
        return candidates[-1].resolve()
    path = Path(spec).expanduser()
    if path.is_dir():
        path = path / CHECKPOINT_DIR / LAST_FILE
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    return path.resolve()


def newest_checkpoint_in(run_dir: str | Path) -> Path | None:
    """The newest resumable checkpoint a run directory already holds (``checkpoints/last.ckpt``
    or Lightning's SLURM ``hpc_ckpt_<n>.ckpt``), or None for a fresh directory: a requeued
    job continues from it."""
    run_dir = Path(run_dir)
    candidates = [run_dir / CHECKPOINT_DIR / LAST_FILE, *run_dir.glob("hpc_ckpt_*.ckpt")]
    existing = [p for p in candidates if p.is_file()]
    return max(existing, key=lambda p: p.stat().st_mtime).resolve() if existing else None


def run_dir_of(checkpoint: Path) -> Path:
    """The run directory that holds ``checkpoint`` (``<run>/checkpoints/x.ckpt``)."""
    parent = checkpoint.parent
    return parent.parent if parent.name == CHECKPOINT_DIR else parent


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` on CPU, with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"checkpoint {path} holds objects that are not plain data and is refused by "
            f"torch.load(weights_only=True): {error}"
        ) from error
    except (RuntimeError, EOFError) as error:
        raise CheckpointError(
            f"checkpoint {path} is not a readable torch checkpoint: {error}"
        ) from error
    if CHECKPOINT_KEY not in checkpoint or "hyper_parameters" not in checkpoint:
        raise CheckpointError(
            f"checkpoint {path} was not written by a TaskModule (no '{CHECKPOINT_KEY}' entry)"
        )
    return upgrade_checkpoint(checkpoint, CHECKPOINT_KEY)


def module_class(dotted: str) -> type[TaskModule]:
    """Import the TaskModule subclass named ``package.module.Class``."""
    module_name, _, class_name = dotted.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise CheckpointError(f"cannot import task module class {dotted!r}: {error}") from error
    if not (isinstance(cls, type) and issubclass(cls, TaskModule)):
        raise CheckpointError(f"{dotted!r} is not a TaskModule subclass")
    return cls


def build_module(checkpoint: dict[str, Any]) -> TaskModule:
    """Rebuild the module saved in ``checkpoint`` and load its weights."""
    hparams = checkpoint["hyper_parameters"]
    cls = module_class(checkpoint[CHECKPOINT_KEY]["module"])
    module = cls(model=hparams["model"], optim=hparams["optim"], artifacts=hparams["artifacts"])
    module.load_state_dict(checkpoint["state_dict"])
    module.run_config = checkpoint[CHECKPOINT_KEY]["config"]
    return module


def load_module(path: str | Path) -> TaskModule:
    """A checkpoint file -> the task module in eval mode, on CPU."""
    return build_module(load_checkpoint(path)).eval()
