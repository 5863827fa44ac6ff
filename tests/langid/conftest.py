"""Session fixtures of the langid tests."""

from __future__ import annotations

import pytest

from tests.langid.langid_helpers import TINY_TEXT, TrainedRun, train_langid, write_jsonl_splits


@pytest.fixture(scope="session")
def trained_text(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """``scripts/train.py task=langid`` with the tiny model on three toy languages, written
    in the embedded corpus's layout (``<data.root>/{train,validation,test}.jsonl``): one
    epoch of training, then the test split."""
    root = tmp_path_factory.mktemp("langid_text")
    data = write_jsonl_splits(root / "data", ["aa", "bb", "cc"])
    return train_langid(
        root,
        *TINY_TEXT,
        f"data.root={data}",
        "data.corpus=null",
        "data.batch_size=8",
        "trainer.max_epochs=1",
        "trainer.max_steps=18",
    )
