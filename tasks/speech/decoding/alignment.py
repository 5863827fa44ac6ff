"""Word start/end times from a CTC alignment.

A decoded label sequence ``y = (y_1..y_U)`` is aligned to the frames by Viterbi over the
CTC trellis of the extended sequence ``z = (blank, y_1, blank, y_2, ..., y_U, blank)``::

    alpha_t(s) = log p_t(z_s) + max(alpha_{t-1}(s), alpha_{t-1}(s-1),
                                    alpha_{t-1}(s-2) if z_s != blank and z_s != z_{s-2})

ending in ``s = |z|`` or ``|z| - 1``. Each label occupies the frames of its run in the best
path; a word spans from its first label's first frame to its last label's last frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from tasks.speech.decoding.ctc import BLANK


@dataclass(frozen=True)
class WordTiming:
    word: str
    start: float
    end: float


def ctc_forced_align(log_probs: Tensor, labels: Sequence[int]) -> list[int]:
    """Best frame path for ``labels``: ``log_probs (T, V)`` -> ``T`` frame labels.

    Raises ``ValueError`` when the labels (with blanks between repeats) need more frames
    than ``T``.
    """
    frames = log_probs.detach().float().cpu()
    num_frames = frames.shape[0]
    ext = [BLANK]
    for label in labels:
        ext += [label, BLANK]
    ext_t = torch.tensor(ext)
    states = len(ext)
    # s - 2 is allowed into s when z_s is a label different from z_{s-2}
    skip = torch.zeros(states, dtype=torch.bool)
    skip[2:] = (ext_t[2:] != BLANK) & (ext_t[2:] != ext_t[:-2])
    neg = torch.tensor(float("-inf"))
    alpha = torch.full((states,), float("-inf"))
    alpha[0] = frames[0, ext[0]]
    if states > 1:
        alpha[1] = frames[0, ext[1]]
    back = torch.zeros(num_frames, states, dtype=torch.long)
    emit = frames[:, ext_t]  # (T, S)
    for t in range(1, num_frames):
        stay = alpha
        step = torch.cat([neg.view(1), alpha[:-1]])
        jump = torch.where(skip, torch.cat([neg.expand(2), alpha[:-2]]), neg)
        cand = torch.stack([stay, step, jump])  # (3, S)
        best, arg = cand.max(0)
        back[t] = arg
        alpha = best + emit[t]
    ends = [s for s in (states - 1, states - 2) if s >= 0]
    final = max(ends, key=lambda s: float(alpha[s]))
    if not torch.isfinite(alpha[final]):
        raise ValueError(f"{len(labels)} labels cannot be aligned to {num_frames} frames")
    path = [0] * num_frames
    s = final
    for t in range(num_frames - 1, -1, -1):
        path[t] = ext[s]
        s -= int(back[t, s])
    return path


def label_spans(path: Sequence[int]) -> list[tuple[int, int, int]]:
    """``(label, first_frame, last_frame)`` of each emitted label in a CTC frame path."""
    spans: list[tuple[int, int, int]] = []
    prev = BLANK
    for t, token in enumerate(path):
        if token != BLANK and token == prev:
            label, first, _ = spans[-1]
            spans[-1] = (label, first, t)
        elif token != BLANK:
            spans.append((token, t, t))
        prev = token
    return spans


def word_timings(
    path: Sequence[int], tokens: Sequence[str], frame_seconds: float, separator: str = " "
) -> list[WordTiming]:
    """Words of a CTC frame path with ``start``/``end`` in seconds.

    ``end`` is the end of the word's last frame: ``(last_frame + 1) * frame_seconds``.
    """
    words: list[WordTiming] = []
    chars: list[str] = []
    first = last = 0
    for label, start, end in [*label_spans(path), (-1, 0, 0)]:
        is_break = label == -1 or tokens[label] == separator
        if is_break and chars:
            words.append(
                WordTiming("".join(chars), first * frame_seconds, (last + 1) * frame_seconds)
            )
            chars = []
        if not is_break:
            if not chars:
                first = start
            chars.append(tokens[label])
            last = end
    return words
