"""Extra training rows that widen the written corpus beyond its sources' shapes.

Most sources give short texts of one casing: names in title case, single words, UI labels.
Text met in use is often longer, lower-cased, shouted, typed without accents or cut
mid-sentence, and a model that never saw those shapes reads them poorly however well it
knows the language. Each extra row is made from the training rows alone (so no validation
or test text leaks in) and keeps its row's language. A generator seeded by ``seed`` picks
the rows, so the extra rows are the same on every run and on every DDP rank.
"""

from __future__ import annotations

import random
import unicodedata
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
        unaccented: a Latin-script text with its accents removed (``é`` -> ``e``), as typed
            on a keyboard without them; texts with no accented Latin letter give no row.
        mixed_per_language: rows per language (not a fraction: every language gets as
            many) of ``min_mixed_words``..``max_mixed_words`` words drawn from all of its
            training texts, each with the frequency it has there: running text of that
            language's vocabulary for languages whose sources hold names and labels only.
        min_mixed_words: fewest words in a mixed row (1: lone words too).
        max_mixed_words: most words in a mixed row.
    """

    joined: float
    max_joined: int
    recased: float
    cropped: float
    unaccented: float = 0.0
    mixed_per_language: int = 0
    min_mixed_words: int = 2
    max_mixed_words: int = 12

    def __post_init__(self) -> None:
        for name in ("joined", "recased", "cropped", "unaccented", "mixed_per_language"):
            if getattr(self, name) < 0:
                raise ValueError(f"data.augmentation.{name}={getattr(self, name)} must be >= 0")
        if self.max_joined < 2:
            raise ValueError(f"data.augmentation.max_joined={self.max_joined} must be >= 2")
        if not 1 <= self.min_mixed_words <= self.max_mixed_words:
            raise ValueError(
                f"data.augmentation.min_mixed_words={self.min_mixed_words} and "
                f"max_mixed_words={self.max_mixed_words}: need 1 <= min <= max"
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


def unaccent_text(text: str, rng: random.Random) -> str:
    """``text`` without the combining accents of its basic Latin letters.

    Only marks on ``a-z``/``A-Z`` go: in other scripts (Devanagari vowel signs, Hebrew
    points) the combining marks are letters, not accents. ``rng`` is unused; it keeps the
    signature of the other transforms.
    """
    del rng
    kept: list[str] = []
    for char in unicodedata.normalize("NFD", text):
        if unicodedata.category(char) == "Mn" and kept and kept[-1].isascii() and kept[-1].isalpha():
            continue
        kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept))


def mix_words(words: Sequence[str], min_words: int, max_words: int, rng: random.Random) -> str:
    """``min_words``..``max_words`` words drawn from ``words`` (with repeats, so by frequency)."""
    return " ".join(rng.choice(words) for _ in range(rng.randint(min_words, max_words)))


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
    transforms = (
        (settings.recased, recase_text),
        (settings.cropped, crop_text),
        (settings.unaccented, unaccent_text),
    )
    for fraction, transform in transforms:
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
                out_texts.append(
                    mix_words(words, settings.min_mixed_words, settings.max_mixed_words, rng)
                )
                out_labels.append(label)
    return out_texts, out_labels
