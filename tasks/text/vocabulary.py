"""Token vocabulary shared by every task (characters for speech, words for captions, labels for LID)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence


class Vocabulary:
    """A fixed, ordered list of tokens with reserved special tokens first.

    The token list is the whole state, so a vocabulary travels inside a checkpoint as a
    plain ``list[str]`` (see :meth:`to_list` / :meth:`from_list`) and loads under
    ``torch.load(weights_only=True)``.

    Args:
        tokens: the ordinary tokens, in index order (after the specials).
        specials: reserved tokens placed at indices ``0..len(specials)-1``, e.g.
            ``("<blank>",)`` for CTC or ``("<pad>", "<bos>", "<eos>", "<unk>")`` for decoders.
        unk: the special used for unknown tokens; ``None`` makes unknown tokens an error.
    """

    def __init__(
        self, tokens: Iterable[str], specials: Sequence[str] = (), unk: str | None = None
    ) -> None:
        self.specials = tuple(specials)
        if unk is not None and unk not in self.specials:
            raise ValueError(f"unk token {unk!r} must be one of the specials {self.specials}")
        self.itos: list[str] = list(self.specials) + [t for t in tokens if t not in self.specials]
        if len(set(self.itos)) != len(self.itos):
            raise ValueError("vocabulary tokens must be unique")
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        self.unk = unk

    @classmethod
    def build(
        cls,
        sequences: Iterable[Sequence[str]],
        specials: Sequence[str] = (),
        unk: str | None = None,
        min_freq: int = 1,
    ) -> Vocabulary:
        """Build from tokenised sequences, keeping tokens seen at least ``min_freq`` times.

        Tokens are ordered by decreasing frequency, ties broken alphabetically, so the
        result does not depend on the order of the data.
        """
        counts = Counter(token for seq in sequences for token in seq)
        kept = sorted(
            (t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t)
        )
        return cls(kept, specials=specials, unk=unk)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def index(self, token: str) -> int:
        """Index of ``token``; unknown tokens map to ``unk`` or raise ``KeyError``."""
        if token in self.stoi:
            return self.stoi[token]
        if self.unk is None:
            raise KeyError(f"token {token!r} is not in the vocabulary and it has no unk token")
        return self.stoi[self.unk]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self.index(t) for t in tokens]

    def decode(self, ids: Iterable[int], skip_specials: bool = True) -> list[str]:
        n_special = len(self.specials)
        return [self.itos[i] for i in ids if not (skip_specials and i < n_special)]

    def to_list(self) -> dict[str, object]:
        """Plain-container form for checkpoints."""
        return {"itos": list(self.itos), "n_specials": len(self.specials), "unk": self.unk}

    @classmethod
    def from_list(cls, state: dict[str, object]) -> Vocabulary:
        itos = list(state["itos"])  # type: ignore[arg-type]
        n = int(state["n_specials"])  # type: ignore[arg-type]
        return cls(itos[n:], specials=itos[:n], unk=state["unk"])  # type: ignore[arg-type]
