"""Logit adjustment: the training loss adds ``tau * log(prior)`` from the training rows."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tasks.langid.module import LangIDModule, logit_offset
from tests.langid.langid_helpers import OPTIM, TINY_MODEL, text_datamodule, write_jsonl_splits


def test_offset_is_the_scaled_log_prior() -> None:
    prior = torch.tensor([0.75, 0.25]).log()
    torch.testing.assert_close(logit_offset({"label_counts": [30, 10]}, 1.0, 2), prior)
    torch.testing.assert_close(logit_offset({"label_counts": [30, 10]}, 0.5, 2), 0.5 * prior)
    assert torch.equal(logit_offset({"label_counts": [30, 10]}, 0.0, 2), torch.zeros(2))
    assert torch.equal(logit_offset({}, 1.0, 3), torch.zeros(3))  # artifacts without counts


@pytest.mark.filterwarnings(r"ignore:You are trying to `self.log\(\)`")
def test_training_loss_adds_the_log_prior_of_the_training_rows(tmp_path: Path) -> None:
    counts = {"aa": 24, "bb": 8, "cc": 8}
    dm = text_datamodule(write_jsonl_splits(tmp_path / "data", list(counts), counts))
    dm.setup("fit")
    artifacts = dm.artifacts()
    assert artifacts["label_counts"] == [24, 8, 8]
    torch.manual_seed(0)
    module = LangIDModule({**TINY_MODEL, "logit_adjustment": 1.0}, OPTIM, artifacts).eval()
    batch = next(iter(dm.train_dataloader()))
    with torch.no_grad():
        loss = module.training_step(batch, 0)
        logits = module(batch["inputs"], batch["inputs_lengths"])
    prior = torch.tensor([0.6, 0.2, 0.2]).log()
    torch.testing.assert_close(loss, F.cross_entropy(logits + prior, batch["label"]))
    assert not torch.allclose(loss, F.cross_entropy(logits, batch["label"]))
    # the offset is derived from the artifacts, not saved as a weight
    assert "logit_offset" not in module.state_dict()
