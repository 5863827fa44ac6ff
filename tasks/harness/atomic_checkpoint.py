"""Checkpoint files that are either complete or absent, even when the process is killed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning_fabric.utilities.types import _PATH

PARTIAL_SUFFIX = ".partial"


def save_atomically(checkpoint: dict[str, Any], path: str | Path) -> None:
    """``torch.save`` into ``<path>.partial`` next to ``path``, flush it to disk, then rename.

    A rename within one directory is atomic (POSIX ``rename``), so a reader, or a run resumed
    after ``kill -9``, sees the previous complete file or the new complete file, never a
    truncated one; a stale ``.partial`` is simply overwritten by the next save.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    with open(partial, "wb") as out:
        torch.save(checkpoint, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer with :func:`save_atomically` for local paths (Lightning's
    own writer stages the file in the system temp directory and moves it, which is a copy,
    not an atomic rename, when that directory is on another file system)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        save_atomically(checkpoint, path)
