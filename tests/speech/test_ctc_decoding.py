"""CTC greedy and prefix beam search on hand-made log-probabilities."""

import math

import pytest
import torch
import torch.nn.functional as F

from tasks.speech.decoding.ctc import (
    CTCPrefixBeamSearch,
    decode_batch,
    greedy_decode,
    labels_to_text,
)
from tasks.speech.decoding.ngram_lm import SPACE, NgramLM, character_tokens

TOKENS = ["<blank>", " ", "a", "b"]


def frames(*rows: list[float]) -> torch.Tensor:
    """Probability rows -> ``(T, V)`` log-probabilities."""
    return torch.tensor(rows).log()


def test_greedy_merges_repeats_drops_blanks_and_respects_lengths():
    ids = torch.tensor([[2, 2, 0, 2, 3, 3, 1, 0], [3, 0, 3, 3, 2, 2, 2, 2]])
    log_probs = F.one_hot(ids, 4).float().clamp_min(1e-4).log()
    out = greedy_decode(log_probs, torch.tensor([8, 4]))
    assert out == [[2, 2, 3, 1], [3, 3]]


def test_beam_finds_the_more_probable_label_sequence_where_greedy_fails():
    # each frame: blank 0.6, "a" 0.4. Best path "" has 0.36; but "a" sums 3 paths: 0.64.
    lp = frames([0.6, 0.0, 0.4, 0.0], [0.6, 0.0, 0.4, 0.0])
    assert greedy_decode(lp[None], torch.tensor([2])) == [[]]
    best = CTCPrefixBeamSearch(TOKENS, beam_size=4)(lp)[0]
    assert best.labels == (2,)
    assert best.acoustic == pytest.approx(math.log(0.64), abs=1e-6)


def test_beam_acoustic_score_is_the_exact_ctc_probability():
    torch.manual_seed(0)
    lp = torch.randn(6, 4).log_softmax(-1)
    hyps = CTCPrefixBeamSearch(TOKENS, beam_size=200, token_prune=1e-12)(lp)
    for hyp in hyps[:5]:
        target = torch.tensor([list(hyp.labels)]) if hyp.labels else torch.zeros(1, 0).long()
        nll = F.ctc_loss(
            lp[:, None],
            target,
            torch.tensor([6]),
            torch.tensor([len(hyp.labels)]),
            reduction="sum",
        )
        assert hyp.acoustic == pytest.approx(-nll.item(), abs=1e-4)


def test_beam_one_equals_greedy_on_peaked_frames():
    generator = torch.Generator().manual_seed(1)
    search = CTCPrefixBeamSearch(TOKENS, beam_size=1)
    for _ in range(20):
        logits = torch.randn(12, 4, generator=generator)
        logits[torch.arange(12), torch.randint(0, 4, (12,), generator=generator)] += 6.0
        lp = logits.log_softmax(-1)
        assert (lp.exp().max(-1).values > 0.5).all()
        greedy = greedy_decode(lp[None], torch.tensor([12]))[0]
        assert list(search(lp)[0].labels) == greedy


# "ab", space, then an ambiguous letter before "b": acoustics prefer "bb" (0.54 vs 0.44)
AB_THEN_AMBIGUOUS = frames(
    [0.01, 0.01, 0.97, 0.01],
    [0.01, 0.01, 0.01, 0.97],
    [0.01, 0.97, 0.01, 0.01],
    [0.01, 0.01, 0.44, 0.54],
    [0.97, 0.01, 0.01, 0.01],
    [0.01, 0.01, 0.01, 0.97],
)


def test_word_lm_fusion_picks_the_word_the_lm_knows():
    lp = AB_THEN_AMBIGUOUS
    plain = CTCPrefixBeamSearch(TOKENS, beam_size=8)(lp)[0]
    assert labels_to_text(plain.labels, TOKENS) == "ab bb"
    lm = NgramLM.from_sentences(["ab ab"] * 20 + ["ba"], order=2)
    fused = CTCPrefixBeamSearch(TOKENS, beam_size=8, lm=lm, lm_weight=1.0)(lp)[0]
    assert labels_to_text(fused.labels, TOKENS) == "ab ab"


def test_char_lm_fusion_spells_like_the_training_text():
    lp = AB_THEN_AMBIGUOUS
    # no word LM: only the characters' statistics say that "b" follows "a", not "b"
    char_lm = NgramLM.from_characters(["ab ab"] * 20 + ["ba"], order=3)
    fused = CTCPrefixBeamSearch(TOKENS, beam_size=8, char_lm=char_lm, char_lm_weight=1.0)(lp)[0]
    assert labels_to_text(fused.labels, TOKENS) == "ab ab"
    # the fused score adds gamma * log P_char of every character and of the sentence end
    chars = character_tokens("ab ab")
    expected = sum(char_lm.log_prob(c, chars[:i]) for i, c in enumerate(chars))
    expected += char_lm.log_prob(NgramLM.END, chars)
    assert fused.score - fused.acoustic == pytest.approx(expected, abs=1e-9)
    assert character_tokens("ab ab")[2] == SPACE


def test_decode_batch_uses_each_items_length():
    lp = F.one_hot(torch.tensor([[2, 0, 3, 3], [3, 3, 2, 2]]), 4).float().clamp_min(1e-4).log()
    lengths = torch.tensor([4, 2])
    search = CTCPrefixBeamSearch(TOKENS, beam_size=4)
    assert decode_batch(lp, lengths, search) == decode_batch(lp, lengths, None) == [[2, 3], [3]]


def test_word_lm_prefers_seen_continuations_and_keeps_unseen_words_possible():
    lm = NgramLM.from_sentences(["open the file", "close the file", "open the door"])
    assert lm.log_prob("file", ["open", "the"]) > lm.log_prob("door", ["close", "the"])
    assert math.isfinite(lm.log_prob("window", ["open", "the"]))
    # a history never seen in training backs off exactly to its seen suffix
    assert lm.log_prob("file", ["shut", "the"]) == lm.log_prob("file", ["the"])
    restored = NgramLM.from_state(lm.to_state())
    assert restored.log_prob("file", ["the"]) == lm.log_prob("file", ["the"])
    total = sum(
        math.exp(lm.log_prob(w, ["the"])) for w in ["file", "door", "open", "close", "the", "</s>"]
    )
    assert total < 1.0
