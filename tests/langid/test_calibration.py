"""Temperature scaling and the ``und`` answer below a confidence threshold."""

from __future__ import annotations

import pytest
import torch

from tasks.harness.checkpoint import load_checkpoint, load_module
from tasks.harness.train import build_datamodule
from tasks.langid.calibration import expected_calibration_error, fit_temperature
from tests.langid.langid_helpers import sentences


def test_fit_temperature_recovers_the_scale_of_over_and_under_confident_logits() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4000, 10, generator=generator)
    labels = torch.distributions.Categorical(logits=logits).sample()  # calibrated at T = 1
    assert fit_temperature(3.0 * logits, labels) == pytest.approx(3.0, rel=0.1)
    assert fit_temperature(0.5 * logits, labels) == pytest.approx(0.5, rel=0.1)
    raw = expected_calibration_error((3.0 * logits).softmax(-1), labels)
    scaled = expected_calibration_error((3.0 * logits / 3.0).softmax(-1), labels)
    assert scaled < 0.05 < raw


def test_temperature_is_fitted_on_validation_and_saved(trained_text) -> None:
    module, checkpoint = trained_text.module, trained_text.checkpoint
    dm = build_datamodule(module.run_config["data"])  # the run's own data, its vocabulary
    dm.load_artifacts(module.hparams["artifacts"])
    dm.prepare_data()
    dm.setup("validate")
    with torch.inference_mode():
        batches = list(dm.val_dataloader())
        logits = torch.cat([module(b["inputs"], b["inputs_lengths"]) for b in batches])
    labels = torch.cat([b["label"] for b in batches])
    # the last validation epoch ran on the final weights: its fit is the saved temperature
    assert float(module.temperature) == pytest.approx(fit_temperature(logits, labels), rel=1e-4)
    assert float(module.temperature) != 1.0
    state = load_checkpoint(checkpoint)["state_dict"]
    assert float(state["temperature"]) == pytest.approx(float(module.temperature))
    del state["temperature"]  # a checkpoint from before temperature scaling still loads
    copy = load_module(checkpoint)
    copy.load_state_dict(state)
    assert float(copy.temperature) == 1.0


def test_und_below_the_confidence_threshold(trained_text) -> None:
    module = load_module(trained_text.checkpoint)
    texts = sentences("bb", 3, seed=5)
    with torch.inference_mode():
        plain = list(module.predict_items(texts, {}))
        assert [r["language"] for r in plain] == ["bb"] * 3  # default threshold 0: never und
        # a huge temperature flattens the three languages' probabilities to about 1/3
        module.temperature.fill_(1e4)
        flat = list(module.predict_items(texts, {"und_threshold": 0.5}))
        kept = list(module.predict_items(texts, {"und_threshold": 0.3}))
    for record in flat:
        assert record["language"] == "und" and "und_threshold 0.5" in record["notice"]
        assert record["probability"] == pytest.approx(1 / 3, abs=0.01)
        assert record["top_k"][0]["language"] == "bb"  # the ranking is still reported
    assert [r["language"] for r in kept] == ["bb"] * 3 and not any("notice" in r for r in kept)
    with pytest.raises(ValueError, match=r"und_threshold=1.5 must lie in \[0, 1\]"):
        list(module.predict_items(texts, {"und_threshold": 1.5}))
