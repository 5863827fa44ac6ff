"""Word times from the CTC alignment on a hand-made example."""

import pytest
import torch
import torch.nn.functional as F

from tasks.speech.decoding.alignment import ctc_forced_align, label_spans, word_timings

TOKENS = ["<blank>", " ", "a", "b"]


def test_word_timings_from_a_frame_path():
    # frames: 0 _ | 1-2 a | 3 b | 4 _ | 5 ' ' | 6 b | 7 b | 8 _ | 9 b | 10 _   -> "ab bb"
    path = [0, 2, 2, 3, 0, 1, 3, 3, 0, 3, 0]
    assert label_spans(path) == [(2, 1, 2), (3, 3, 3), (1, 5, 5), (3, 6, 7), (3, 9, 9)]
    words = word_timings(path, TOKENS, frame_seconds=0.04)
    assert [w.word for w in words] == ["ab", "bb"]
    assert words[0].start == pytest.approx(0.04) and words[0].end == pytest.approx(0.16)
    assert words[1].start == pytest.approx(0.24) and words[1].end == pytest.approx(0.40)


def test_forced_alignment_recovers_the_path_the_frames_point_to():
    path = [0, 2, 2, 3, 0, 1, 3, 3, 0, 3, 0]
    lp = F.one_hot(torch.tensor(path), 4).float().mul(0.9).add(0.025).log()
    assert ctc_forced_align(lp, [2, 3, 1, 3, 3]) == path


def test_forced_alignment_inserts_a_blank_between_repeated_labels():
    # the frames prefer "b b b" without blanks; "bb" needs one blank between the two b's
    lp = torch.tensor([[0.1, 0.0, 0.0, 0.9]] * 3).clamp_min(1e-6).log()
    assert ctc_forced_align(lp, [3, 3]) in ([3, 0, 3],)
    with pytest.raises(ValueError, match="cannot be aligned"):
        ctc_forced_align(lp[:2], [3, 3, 3])
