"""CTC decoding: greedy best path and prefix beam search with optional n-gram LM fusion.

A CTC output frame sequence ``pi`` maps to a label sequence by ``B(pi)``: merge repeated
labels, then drop blanks (index 0). Greedy decoding takes ``B(argmax_v p_t(v))``; prefix
beam search (Hannun et al. 2014) instead sums over all frame paths of each prefix ``y``::

    P(y | x) = sum_{pi : B(pi) = y} prod_t p_t(pi_t)

tracking, per prefix, the probability of paths ending in blank (``p_b``) and in a
non-blank (``p_nb``), so a repeated label is only a new label after a blank. With a word
and a character language model the beam ranks prefixes by (shallow fusion)::

    score(y) = log P_ctc(y | x) + alpha * log P_lm(words(y)) + beta * |words(y)|
                                + gamma * log P_char(y)

The word model scores each word once it is complete; the character model scores every
label as it is added, so it also steers the spelling of words the word model never saw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor

from tasks.speech.decoding.ngram_lm import SPACE, NgramLM

BLANK = 0
NEG_INF = -math.inf
CHAR_MEMO_SIZE = 1 << 18
"""Character-LM scores kept per search (cleared when full)."""


def _logaddexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    top = max(a, b)
    return top + math.log1p(math.exp(-abs(a - b)))


def greedy_decode(log_probs: Tensor, lengths: Tensor) -> list[list[int]]:
    """Best-path decoding: ``log_probs (B, T, V)``, ``lengths (B,)`` -> label ids per item."""
    best = log_probs.argmax(-1).tolist()
    out = []
    for path, length in zip(best, lengths.tolist(), strict=True):
        labels, prev = [], BLANK
        for token in path[:length]:
            if token != prev and token != BLANK:
                labels.append(token)
            prev = token
        out.append(labels)
    return out


@dataclass
class _Prefix:
    blank: float = NEG_INF  # log p_b: paths ending in blank
    non_blank: float = NEG_INF  # log p_nb: paths ending in the last label
    lm: float = 0.0  # alpha * log P_lm + beta * words (completed words) + gamma * log P_char

    @property
    def acoustic(self) -> float:
        return _logaddexp(self.blank, self.non_blank)

    @property
    def score(self) -> float:
        return self.acoustic + self.lm


@dataclass(frozen=True)
class Hypothesis:
    """One decoded label sequence with its fused score and CTC log-probability."""

    labels: tuple[int, ...]
    score: float
    acoustic: float


class CTCPrefixBeamSearch:
    """CTC prefix beam search over one utterance, optionally fused with n-gram LMs.

    Args:
        tokens: the output vocabulary (index 0 is the blank).
        beam_size: prefixes kept after each frame.
        word_separator: the token that ends a word (the space character).
        lm: word LM for shallow fusion; scored whenever a word is completed.
        lm_weight: ``alpha``.
        word_bonus: ``beta``, added per scored word (balances the LM's length penalty).
        char_lm: character LM (:meth:`NgramLM.from_characters`); scored for every label.
        char_lm_weight: ``gamma``.
        token_prune: per frame, only labels with ``log p >= log(token_prune)`` are extended
            (the frame's best label always is).
    """

    def __init__(
        self,
        tokens: Sequence[str],
        beam_size: int = 8,
        word_separator: str = " ",
        lm: NgramLM | None = None,
        lm_weight: float = 0.5,
        word_bonus: float = 0.0,
        token_prune: float = 1e-3,
        char_lm: NgramLM | None = None,
        char_lm_weight: float = 0.0,
    ) -> None:
        if beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {beam_size}")
        self.tokens = list(tokens)
        self.beam_size = beam_size
        self.separator = self.tokens.index(word_separator) if word_separator in tokens else -1
        self.lm = lm
        self.lm_weight = lm_weight
        self.word_bonus = word_bonus
        self.log_prune = math.log(token_prune)
        self.char_lm = char_lm
        self.char_lm_weight = char_lm_weight
        self.char_tokens = [SPACE if t == " " else t for t in self.tokens]
        self._char_memo: dict[tuple[tuple[int, ...], int | str], float] = {}

    def __call__(self, log_probs: Tensor) -> list[Hypothesis]:
        """``log_probs (T, V)`` of one utterance -> hypotheses, best first."""
        frames = log_probs.detach().float().cpu()
        beams: dict[tuple[int, ...], _Prefix] = {(): _Prefix(blank=0.0)}
        for frame in frames:
            candidates = (frame >= self.log_prune).nonzero().flatten().tolist()
            best = int(frame.argmax())
            if best not in candidates:
                candidates.append(best)
            values = frame.tolist()
            beams = self._step(beams, candidates, values)
        return self._finish(beams)

    def _step(
        self, beams: dict[tuple[int, ...], _Prefix], candidates: list[int], lp: list[float]
    ) -> dict[tuple[int, ...], _Prefix]:
        nxt: dict[tuple[int, ...], _Prefix] = {}

        def entry(prefix: tuple[int, ...], lm: float) -> _Prefix:
            if prefix not in nxt:
                nxt[prefix] = _Prefix(lm=lm)
            return nxt[prefix]

        for prefix, beam in beams.items():
            total = beam.acoustic
            last = prefix[-1] if prefix else None
            for token in candidates:
                p = lp[token]
                if token == BLANK:
                    # y stays y: any path + blank
                    stay = entry(prefix, beam.lm)
                    stay.blank = _logaddexp(stay.blank, total + p)
                elif token == last:
                    # repeated label: merges into y unless separated by a blank
                    stay = entry(prefix, beam.lm)
                    stay.non_blank = _logaddexp(stay.non_blank, beam.non_blank + p)
                    longer = entry((*prefix, token), beam.lm + self._lm_score(prefix, token))
                    longer.non_blank = _logaddexp(longer.non_blank, beam.blank + p)
                else:
                    extended = (*prefix, token)
                    longer = entry(extended, beam.lm + self._lm_score(prefix, token))
                    longer.non_blank = _logaddexp(longer.non_blank, total + p)
        ranked = sorted(nxt.items(), key=lambda kv: kv[1].score, reverse=True)
        return dict(ranked[: self.beam_size])

    def _lm_score(self, prefix: tuple[int, ...], token: int) -> float:
        """LM terms for appending ``token``: the character model's, and the word model's when
        ``token`` completes a word."""
        return self._char_score(prefix, token) + self._word_score(prefix, token)

    def _char_score(self, prefix: tuple[int, ...], token: int | str) -> float:
        """``gamma * log P_char(token | prefix)``; ``token`` may be :attr:`NgramLM.END`."""
        if self.char_lm is None:
            return 0.0
        key = (prefix[max(0, len(prefix) - self.char_lm.order + 1) :], token)
        score = self._char_memo.get(key)
        if score is None:
            # the beam extends the same prefixes by the same labels frame after frame
            history = [self.char_tokens[i] for i in key[0]]
            symbol = token if isinstance(token, str) else self.char_tokens[token]
            score = self.char_lm_weight * self.char_lm.log_prob(symbol, history)
            if len(self._char_memo) >= CHAR_MEMO_SIZE:
                self._char_memo.clear()
            self._char_memo[key] = score
        return score

    def _word_score(self, prefix: tuple[int, ...], token: int) -> float:
        """Word LM term for appending ``token``: non-zero only when it completes a word."""
        if self.lm is None or token != self.separator:
            return 0.0
        words = self._words(prefix)
        if not words or (prefix and prefix[-1] == self.separator):
            return 0.0
        return self.lm_weight * self.lm.log_prob(words[-1], words[:-1]) + self.word_bonus

    def _words(self, labels: Sequence[int]) -> list[str]:
        return "".join(self.tokens[i] for i in labels).split()

    def _finish(self, beams: dict[tuple[int, ...], _Prefix]) -> list[Hypothesis]:
        """Score the trailing word and the sentence end, then rank."""
        hyps = []
        for prefix, beam in beams.items():
            lm = beam.lm
            if self.lm is not None:
                words = self._words(prefix)
                if words and prefix[-1] != self.separator:
                    lm += self.lm_weight * self.lm.log_prob(words[-1], words[:-1])
                    lm += self.word_bonus
                lm += self.lm_weight * self.lm.log_prob(NgramLM.END, words)
            lm += self._char_score(prefix, NgramLM.END)
            hyps.append(Hypothesis(prefix, beam.acoustic + lm, beam.acoustic))
        return sorted(hyps, key=lambda h: h.score, reverse=True)


def decode_batch(
    log_probs: Tensor,
    lengths: Tensor,
    search: CTCPrefixBeamSearch | None,
) -> list[list[int]]:
    """Greedy when ``search`` is None, else the best beam hypothesis per item."""
    if search is None:
        return greedy_decode(log_probs, lengths)
    return [list(search(log_probs[b, : int(lengths[b])])[0].labels) for b in range(len(log_probs))]


def labels_to_text(labels: Sequence[int], tokens: Sequence[str]) -> str:
    """Join label ids into text, collapsing separator runs and trimming the ends."""
    return " ".join("".join(tokens[i] for i in labels).split())
