"""Session fixtures of the langid tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl

from tasks.langid.data.text_datamodule import LangIDTextDataModule
from tasks.langid.module import LangIDModule
from tests.langid.langid_helpers import (
    OPTIM,
    TINY_MODEL,
    text_datamodule,
    tiny_trainer,
    write_jsonl_splits,
)


@pytest.fixture(scope="session")
def trained_text(tmp_path_factory) -> tuple[LangIDModule, LangIDTextDataModule, Path]:
    """A tiny model fitted on three toy languages; returns module, datamodule, checkpoint."""
    pl.seed_everything(0)
    base = tmp_path_factory.mktemp("langid_text")
    dm = text_datamodule(write_jsonl_splits(base / "data", ["aa", "bb", "cc"]))
    dm.prepare_data()
    dm.setup("fit")
    module = LangIDModule(model=TINY_MODEL, optim=OPTIM, artifacts=dm.artifacts())
    module.run_config = {"task": {"name": "langid", "monitor": "val/acc"}}
    trainer = tiny_trainer(base / "run")
    trainer.fit(module, datamodule=dm)
    trainer.test(module, datamodule=dm)
    checkpoint = base / "run" / "tiny.ckpt"
    trainer.save_checkpoint(checkpoint)
    return module.eval(), dm, checkpoint
