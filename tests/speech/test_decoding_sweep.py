"""The decoding-weight sweep scores each option set on the same cached log-probabilities."""

import pytest

from tasks.speech.decoding.ngram_lm import SPACE
from tasks.speech.decoding.sweep import error_rates
from tasks.speech.module import SpeechModule
from tests.serving.tiny_models import model_config
from tests.speech.test_ctc_decoding import AB_THEN_AMBIGUOUS, TOKENS

TINY = [
    "task=speech",
    "encoder.hidden_size=8",
    "encoder.num_layers=1",
    "model.decoding.beam_size=8",
]


def test_error_rates_follow_the_decoding_options():
    module = SpeechModule(
        model=model_config(
            *TINY,
            "model.decoding.lm_order=2",
            "model.decoding.lm_weight=0.0",
            "model.decoding.word_bonus=0.0",
            "model.decoding.char_lm_order=0",
            "model.decoding.char_lm_weight=0.0",
        ),
        optim={},
        artifacts={
            "vocabulary": {"itos": TOKENS, "n_specials": 1, "unk": None},
            "cmvn": {"mean": [0.0] * 80, "std": [1.0] * 80},
            "sample_rate": 16000,
            "features": {"sample_rate": 16000, "n_mels": 80},
            "transcripts": ["ab ab"] * 20 + ["ba"],
        },
    )
    log_probs = AB_THEN_AMBIGUOUS  # acoustics prefer "ab bb", the LM knows "ab ab"
    greedy = error_rates(module, [log_probs], ["ab ab"], {"beam_size": 1, "lm_weight": 0.0})
    fused = error_rates(module, [log_probs], ["ab ab"], {"beam_size": 8, "lm_weight": 1.0})
    assert greedy == pytest.approx((1 / 5, 1 / 2))  # one character, one word of two
    assert fused == pytest.approx((0.0, 0.0))


def test_lm_text_joins_the_transcripts_in_both_language_models():
    artifacts = {
        "vocabulary": {"itos": TOKENS, "n_specials": 1, "unk": None},
        "cmvn": {"mean": [0.0] * 80, "std": [1.0] * 80},
        "sample_rate": 16000,
        "features": {"sample_rate": 16000, "n_mels": 80},
        "transcripts": ["ab ab"] * 20,
    }
    model = model_config(
        *TINY,
        "model.decoding.lm_order=2",
        "model.decoding.char_lm_order=3",
        "model.decoding.lm_weight=1.0",
    )
    without = SpeechModule(model=model, optim={}, artifacts=artifacts)
    with_text = SpeechModule(model=model, optim={}, artifacts=artifacts | {"lm_text": ["ab bb"]})
    # "bb" follows "ab" only in the LM text: both models learn it from there
    assert with_text.lm.log_prob("bb", ["ab"]) > without.lm.log_prob("bb", ["ab"]) + 1.0
    history = ["b", SPACE, "b"]
    assert with_text.char_lm.log_prob("b", history) > without.char_lm.log_prob("b", history) + 1.0
