"""Token n-gram language models for CTC shallow fusion, estimated from training transcripts:
over words (:meth:`NgramLM.from_sentences`) or over characters
(:meth:`NgramLM.from_characters`, the word gaps as :data:`SPACE`).

Each order is smoothed towards the next lower one with a Dirichlet prior (additive
smoothing whose pseudo-counts follow the lower-order distribution)::

    P_1(w)       = (c(w) + k) / (N + k (|V| + 1))                 (+1: the unknown token)
    P_n(w | h)   = (c(h, w) + mu * P_{n-1}(w | h')) / (c(h) + mu)  h' = h without its first token

so unseen histories fall back to the lower order and unseen tokens keep the mass ``k``
gives them, which matters on held-out sentences (``w`` a word or a character).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

SPACE = "\u2581"
"""The word gap as a character-model token (tokens are stored space-joined)."""


def character_tokens(text: str) -> list[str]:
    """``"no mail" -> ["n", "o", SPACE, "m", "a", "i", "l"]``."""
    return [SPACE if c == " " else c for c in text]


class NgramLM:
    """Smoothed token n-gram model.

    Args:
        counts: n-gram counts for orders ``1..order``, keyed by token tuples; histories are
            padded with :attr:`START` and sequences end with :attr:`END`.
        order: n of the model.
        add_k: unigram pseudo-count ``k``.
        prior: ``mu``, the weight of the lower order in each higher one.
    """

    START = "<s>"
    END = "</s>"

    def __init__(
        self, counts: Counter[tuple[str, ...]], order: int, add_k: float = 0.5, prior: float = 2.0
    ) -> None:
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        self.counts = counts
        self.order = order
        self.add_k = add_k
        self.prior = prior
        self.context_counts: Counter[tuple[str, ...]] = Counter()
        for ngram, n in counts.items():
            self.context_counts[ngram[:-1]] += n
        self.vocab_size = sum(1 for ngram in counts if len(ngram) == 1)
        self.total = self.context_counts[()]

    @classmethod
    def from_sequences(
        cls,
        sequences: Iterable[Sequence[str]],
        order: int = 3,
        add_k: float = 0.5,
        prior: float = 2.0,
    ) -> NgramLM:
        """Count the n-grams of token sequences (tokens must not contain spaces)."""
        counts: Counter[tuple[str, ...]] = Counter()
        for sequence in sequences:
            tokens = [cls.START] * (order - 1) + list(sequence) + [cls.END]
            for i in range(order - 1, len(tokens)):
                for n in range(1, order + 1):
                    counts[tuple(tokens[i - n + 1 : i + 1])] += 1
        return cls(counts, order, add_k, prior)

    @classmethod
    def from_sentences(
        cls, sentences: Iterable[str], order: int = 3, add_k: float = 0.5, prior: float = 2.0
    ) -> NgramLM:
        """Word model of whitespace-separated sentences."""
        return cls.from_sequences((s.split() for s in sentences), order, add_k, prior)

    @classmethod
    def from_characters(
        cls, sentences: Iterable[str], order: int = 8, add_k: float = 0.5, prior: float = 2.0
    ) -> NgramLM:
        """Character model of sentences (:func:`character_tokens`)."""
        return cls.from_sequences((character_tokens(s) for s in sentences), order, add_k, prior)

    def log_prob(self, token: str, history: Sequence[str]) -> float:
        """``log P(token | last order-1 tokens of history)``, history padded with ``<s>``."""
        padded = [self.START] * (self.order - 1) + list(history)
        context = tuple(padded[len(padded) - self.order + 1 :]) if self.order > 1 else ()
        unigram = (self.counts[(token,)] + self.add_k) / (
            self.total + self.add_k * (self.vocab_size + 1)
        )
        p = unigram
        for n in range(1, len(context) + 1):
            h = context[len(context) - n :]
            seen = self.context_counts.get(h, 0)
            if not seen:  # nor any longer history ending in h: P_n = P_{n-1} from here on
                break
            p = (self.counts.get((*h, token), 0) + self.prior * p) / (seen + self.prior)
        return math.log(p)

    def to_state(self) -> dict[str, object]:
        """Plain-container form for checkpoints (loads under ``weights_only=True``)."""
        return {
            "order": self.order,
            "add_k": self.add_k,
            "prior": self.prior,
            "ngrams": [" ".join(k) for k in self.counts],
            "counts": list(self.counts.values()),
        }

    @classmethod
    def from_state(cls, state: dict[str, object]) -> NgramLM:
        ngrams = [tuple(s.split(" ")) for s in state["ngrams"]]  # type: ignore[union-attr]
        counts = Counter(dict(zip(ngrams, state["counts"], strict=True)))  # type: ignore[arg-type]
        return cls(counts, int(state["order"]), float(state["add_k"]), float(state["prior"]))  # type: ignore[arg-type]
