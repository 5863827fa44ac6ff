"""Error breakdowns: LCS word matches, seen/unseen word recall, CER per group."""

import pytest

from tasks.speech.error_analysis import cer_by_group, matched_words, word_recall


def test_matched_words_follow_a_longest_common_subsequence():
    ref = ["open", "the", "new", "file", "now"]
    assert matched_words(ref, ["open", "a", "new", "fine", "now"]) == [
        True,
        False,
        True,
        False,
        True,
    ]
    assert matched_words(ref, []) == [False] * 5
    assert matched_words(["a", "a"], ["a"]) == [True, False]


def test_word_recall_splits_seen_and_unseen_words():
    refs = ["open the file", "close the window"]
    hyps = ["open the fire", "close a window"]
    recall = word_recall(refs, hyps, known={"open", "the", "file", "close"})
    assert recall == {"seen": (3, 5), "unseen": (1, 1)}


def test_cer_by_group_sorts_groups_by_error_rate():
    rates = cer_by_group(["ab", "ab", "cd"], ["ab", "xb", "cd"], ["v1", "v2", "v1"])
    assert list(rates) == ["v1", "v2"]
    assert rates["v1"] == (0.0, 2)
    assert rates["v2"] == (pytest.approx(0.5), 1)
