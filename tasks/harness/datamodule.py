"""Base class of every task's LightningDataModule."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import pytorch_lightning as pl


class TaskDataModule(pl.LightningDataModule, ABC):
    """A task's datamodule: ``prepare_data`` builds/caches the corpus, ``setup`` loads splits.

    The harness calls ``prepare_data()`` then ``setup(stage)`` itself before building the
    module, and Lightning calls them again inside ``fit``/``test``: both must be idempotent
    (cache what they load).

    Artifacts are what the model needs from the training data (vocabulary as
    ``Vocabulary.to_list()``, label list, feature statistics as tensors), as plain containers.
    A fresh run reads :meth:`artifacts` after ``setup("fit")``. Eval, predict and resume give
    the checkpoint's artifacts back through :meth:`load_artifacts` *before* ``setup``; the
    datamodule must then encode data with them instead of recomputing them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fixed_artifacts: dict[str, Any] | None = None

    def load_artifacts(self, artifacts: dict[str, Any]) -> None:
        """Use ``artifacts`` (from a checkpoint) instead of computing them from the data."""
        self.fixed_artifacts = artifacts

    @abstractmethod
    def artifacts(self) -> dict[str, Any]:
        """Plain-container artifacts; ``fixed_artifacts`` when loaded, else from the train split."""
