"""Extra training rows that widen the written corpus beyond its sources' shapes.

Most sources give short texts of one casing: names in title case, single words, UI labels.
Text met in use is often longer, lower-cased, shouted or cut mid-sentence, and a model
that never saw those shapes reads them poorly however well it knows the language. Each
extra row is made from the training rows alone (so no validation or test text leaks in)
and keeps its row's language. A generator seeded by ``seed`` picks the rows, so the extra
rows are the same on every run and on every DDP rank.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

JOINERS = (" ", ". ", ", ", "; ", " - ")
RECASINGS = (str.lower, str.upper, str.capitalize)


@dataclass(frozen=True)
class TextAugmentation:
    """How many extra rows of each kind, as fractions of the training rows.

    Attributes:
        joined: rows joining 2..``max_joined`` texts of one language with a space or a
            punctuation mark: long, multi-sentence text from sources of short entries.
        max_joined: most texts in a joined row.
        recased: a text lower-cased, upper-cased or capitalised; texts of scripts without
            case (the recased text equals the original) give no row.
        cropped: a contiguous run of at least half the words (characters, for text without
            spaces) of a text of three or more words (characters): text cut mid-sentence.
        mixed_per_language: rows per language (not a fraction: every language gets as
            many) of 2..``max_mixed_words`` words drawn from all of its training texts,
            each with the frequency it has there: running text of that language's
            vocabulary for languages whose sources hold names and labels only.
        max_mixed_words: most words in a mixed row.
    """

    joined: float
    max_joined: int
    recased: float
    cropped: float
    mixed_per_language: int = 0
    max_mixed_words: int = 12

    def __post_init__(self) -> None:
        for name in ("joined", "recased", "cropped", "mixed_per_language"):
            if getattr(self, name) < 0:
                raise ValueError(f"data.augmentation.{name}={getattr(self, name)} must be >= 0")
        if self.max_joined < 2:
            raise ValueError(f"data.augmentation.max_joined={self.max_joined} must be >= 2")
        if self.max_mixed_words < 2:
            raise ValueError(
                f"data.augmentation.max_mixed_words={self.max_mixed_words} must be >= 2"
            )

    @classmethod
    def from_dict(cls, options: Mapping[str, Any]) -> TextAugmentation:
        return cls(**dict(options))


def join_texts(rows: Sequence[int], texts: Sequence[str], rng: random.Random) -> str:
    joiner = rng.choice(JOINERS)
    return joiner.join(texts[i].strip() for i in rows)


def recase_text(text: str, rng: random.Random) -> str:
    return rng.choice(RECASINGS)(text)


def crop_text(text: str, rng: random.Random) -> str:
    """A contiguous run of at least half of ``text``'s words (or characters)."""
    words = text.split()
    units, glue = (words, " ") if len(words) > 1 else (list(text), "")
    if len(units) < 3:
        return text
    size = rng.randint((len(units) + 1) // 2, len(units) - 1)
    start = rng.randint(0, len(units) - size)
    return glue.join(units[start : start + size])


def mix_words(words: Sequence[str], max_words: int, rng: random.Random) -> str:
    """2..``max_words`` words drawn from ``words`` (with repeats, so by frequency)."""
    return " ".join(rng.choice(words) for _ in range(rng.randint(2, max_words)))


def augment_texts(
    texts: Sequence[str], labels: Sequence[str], settings: TextAugmentation, seed: int
) -> tuple[list[str], list[str]]:
    """``texts``/``labels`` followed by the extra rows ``settings`` asks for.

    The joined, recased and cropped rows' languages follow the training rows' (each starts
    from a row drawn uniformly), so they leave the label balance unchanged in expectation;
    mixed rows add the same number to every language.
    """
    rng = random.Random(seed)
    out_texts, out_labels = list(texts), list(labels)
    # Missing or blank texts stay for the encoder to skip and count; none is a source.
    usable = [i for i, text in enumerate(texts) if isinstance(text, str) and text.strip()]
    if not usable:
        return out_texts, out_labels
    rows_of: dict[str, list[int]] = defaultdict(list)
    for i in usable:
        rows_of[labels[i]].append(i)
    n = len(usable)
    for _ in range(round(settings.joined * n)):
        first = rng.choice(usable)
        others = rows_of[labels[first]]
        count = rng.randint(2, settings.max_joined)
        rows = [first, *(rng.choice(others) for _ in range(count - 1))]
        out_texts.append(join_texts(rows, texts, rng))
        out_labels.append(labels[first])
    for fraction, transform in ((settings.recased, recase_text), (settings.cropped, crop_text)):
        for _ in range(round(fraction * n)):
            row = rng.choice(usable)
            changed = transform(texts[row], rng)
            if changed != texts[row]:
                out_texts.append(changed)
                out_labels.append(labels[row])
    if settings.mixed_per_language:
        for label in sorted(rows_of):
            words = [word for i in rows_of[label] for word in texts[i].split()]
            for _ in range(settings.mixed_per_language):
                out_texts.append(mix_words(words, settings.max_mixed_words, rng))
                out_labels.append(label)
    return out_texts, out_labels
