"""Predict restricted to candidate languages (``options.languages``)."""

from __future__ import annotations

import pytest
import torch

from tasks.harness.checkpoint import load_module
from tasks.harness.errors import ConfigError
from tasks.langid.predict.candidates import candidate_mask, restrict
from tests.langid.langid_helpers import sentences


def test_restricted_softmax_gives_the_other_labels_nothing() -> None:
    mask = candidate_mask(["aa", "bb", "cc"], ["cc", "aa"])
    assert mask.tolist() == [True, False, True]
    logits = torch.tensor([[0.0, 5.0, 1.0]])
    probabilities = restrict(logits, mask).softmax(-1)[0]
    assert probabilities[1] == 0.0
    assert probabilities[2] / probabilities[0] == pytest.approx(torch.e)  # ratios unchanged
    assert restrict(logits, candidate_mask(["aa"], None)) is logits


def test_predict_answers_among_the_candidates_only(trained_text) -> None:
    module = load_module(trained_text.checkpoint).eval()
    texts = sentences("cc", 6, seed=9) + sentences("bb", 6, seed=9)
    unrestricted = list(module.predict_items(texts, {}))
    assert any(r["language"] == "cc" for r in unrestricted)  # the model can answer cc...
    restricted = list(module.predict_items(texts, {"languages": ["aa", "bb"], "top_k": 3}))
    for record in restricted:  # ...and cannot when cc is not a candidate
        assert record["language"] in {"aa", "bb"}
        assert [r["language"] for r in record["top_k"]] in (["aa", "bb"], ["bb", "aa"])
        assert sum(r["probability"] for r in record["top_k"]) == pytest.approx(1.0, abs=1e-5)


def test_unknown_candidate_is_one_config_error_naming_it(trained_text) -> None:
    module = load_module(trained_text.checkpoint)
    with pytest.raises(ConfigError, match=r"\['zz'\] are not languages of this model.*aa bb cc"):
        module.predict_options({"languages": ["aa", "zz"]})
    with pytest.raises(ConfigError, match=r"options\.languages is empty"):
        module.predict_options({"languages": []})
