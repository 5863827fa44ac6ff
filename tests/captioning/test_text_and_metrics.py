"""Caption tokenisation, vocabulary round-trip and BLEU / CIDEr-D scoring."""

from __future__ import annotations

import io

import pytest
import torch

from tasks.captioning.metrics import caption_scores
from tasks.captioning.tokenization import (
    BOS,
    EOS,
    PAD,
    UNK,
    build_vocabulary,
    decode_caption,
    encode_caption,
    tokenize,
)
from tasks.text.vocabulary import Vocabulary


def test_tokenize_lowercases_and_drops_punctuation() -> None:
    assert tokenize("Two small RED triangles, above a circle.") == [
        "two",
        "small",
        "red",
        "triangles",
        "above",
        "a",
        "circle",
    ]


def test_vocabulary_round_trip_through_checkpoint_form() -> None:
    captions = [
        "a red circle",
        "two red squares",
        "a red circle above a blue square",
        "a rare word",
    ]
    vocab = build_vocabulary(captions, min_freq=2)
    assert vocab.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert (PAD, BOS, EOS, UNK) == (0, 1, 2, 3)
    assert "rare" not in vocab and "red" in vocab
    state = vocab.to_list()
    # the checkpoint form survives torch's weights-only loader
    buffer = io.BytesIO()
    torch.save({"vocabulary": state}, buffer)
    buffer.seek(0)
    restored = Vocabulary.from_list(torch.load(buffer, weights_only=True)["vocabulary"])
    assert restored.itos == vocab.itos
    ids = encode_caption(restored, "A red circle, a rare one", max_length=10)
    assert ids[0] == BOS and ids[-1] == EOS and UNK in ids
    # specials (<unk>) are dropped and decoding stops at <eos>
    assert decode_caption(restored, [*ids[1:], 5, 6]) == "a red circle a"


def test_encode_truncates_and_decode_stops_at_eos() -> None:
    vocab = build_vocabulary(["one two three four"])
    ids = encode_caption(vocab, "one two three four", max_length=2)
    assert len(ids) == 4 and decode_caption(vocab, ids[1:]) == "one two"


def test_perfect_captions_score_one_and_errors_score_lower() -> None:
    refs = {
        "a": ["a red circle above a blue square", "a blue square below a red circle"],
        "b": ["two green crosses", "there are two green crosses"],
        "c": ["a large yellow diamond", "a yellow diamond"],
    }
    perfect = caption_scores({"a": refs["a"][0], "b": refs["b"][0], "c": refs["c"][0]}, refs)
    assert perfect["bleu4"] == pytest.approx(1.0, abs=1e-6)
    assert perfect["bleu1"] == pytest.approx(1.0, abs=1e-6)
    wrong = caption_scores(
        {"a": "a red circle above a red circle", "b": "two blue crosses", "c": "a yellow square"},
        refs,
    )
    assert wrong["cider_d"] < perfect["cider_d"] and wrong["bleu4"] < perfect["bleu4"]
    # scoring is case and punctuation insensitive, like the training tokeniser
    shouted = caption_scores(
        {
            "a": "A red circle above a blue square.",
            "b": "Two green crosses!",
            "c": "a LARGE yellow diamond",
        },
        refs,
    )
    assert shouted == perfect


def test_scores_need_matching_ids() -> None:
    with pytest.raises(ValueError, match="same image ids"):
        caption_scores({"a": "x"}, {"b": ["x"]})
