"""Session fixtures of the langid tests."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

from tasks.harness.checkpoint import load_module
from tasks.langid.module import LangIDModule
from tests.harness.conftest import read_json, run_entry_point
from tests.langid.langid_helpers import TINY_TEXT, write_jsonl_splits


class TrainedRun(NamedTuple):
    module: LangIDModule
    """The model loaded from ``checkpoint``, in eval mode."""
    run_dir: Path
    checkpoint: Path
    summary: dict


@pytest.fixture(scope="session")
def trained_text(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """``scripts/train.py task=langid`` with the tiny model on three toy languages, written
    in the embedded corpus's layout (``<data.root>/{train,validation,test}.jsonl``): one
    epoch of training, then the test split."""
    root = tmp_path_factory.mktemp("langid_text")
    data = write_jsonl_splits(root / "data", ["aa", "bb", "cc"])
    run_entry_point(
        "train",
        [
            *TINY_TEXT,
            "callbacks.progress_bar.refresh_rate=0",
            "trainer.enable_model_summary=false",
            f"paths.root_dir={root}",
            f"data.root={data}",
            "data.corpus=null",
            "data.batch_size=8",
            "trainer.max_epochs=1",
            "trainer.max_steps=18",
        ],
    )
    (run_dir,) = (root / "outputs" / "langid" / "runs").iterdir()
    summary = read_json(run_dir / "summary.json")
    checkpoint = Path(summary["checkpoint"])
    return TrainedRun(load_module(checkpoint).eval(), run_dir, checkpoint, summary)
