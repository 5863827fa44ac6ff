"""Text -> symbol ids for the written model: Unicode characters or UTF-8 bytes.

Characters keep each script's symbols as single, highly informative units (one id per
CJK ideograph); bytes need no vocabulary and never meet an unknown symbol. Both map
through a :class:`~tasks.text.vocabulary.Vocabulary` with ``<pad>`` at 0 and ``<unk>`` at 1,
so the embedding table of either follows the vocabulary's rows.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

from tasks.text.vocabulary import Vocabulary

PAD, UNK = "<pad>", "<unk>"
SPECIALS = (PAD, UNK)
UNITS = ("char", "byte")


def text_units(text: str, unit: str) -> list[str]:
    """``"char"``: ``list(text)``; ``"byte"``: the UTF-8 bytes as two-digit hex tokens."""
    if unit == "char":
        return list(text)
    if unit == "byte":
        return [f"{b:02x}" for b in text.encode("utf-8")]
    raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")


def build_unit_vocabulary(texts: Iterable[str], unit: str, min_freq: int) -> Vocabulary:
    """Characters seen ``min_freq`` times in ``texts``, or all 256 bytes."""
    if unit == "byte":
        return Vocabulary([f"{b:02x}" for b in range(256)], specials=SPECIALS, unk=UNK)
    return Vocabulary.build(
        (text_units(t, unit) for t in texts), specials=SPECIALS, unk=UNK, min_freq=min_freq
    )


def encode_text(text: str, vocabulary: Vocabulary, unit: str, max_units: int) -> list[int]:
    """Ids of the first ``max_units`` units of ``text``."""
    return vocabulary.encode(text_units(text, unit)[:max_units])


def word_symbols(symbols: Sequence[str], unit: str) -> list[bool]:
    """Which symbols make up words, per vocabulary row: letters and combining marks
    (``char``: Unicode categories L* and M*, so that Indic vowel signs stay inside their
    word), or ASCII letters and every byte of a non-ASCII character (``byte``). ``<unk>``
    counts as a letter: the rare characters it stands for are mostly letters of rare
    scripts. Everything else (spaces, digits, punctuation, ``<pad>``) separates words."""
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
    flags = []
    for symbol in symbols:
        if symbol in SPECIALS:
            flags.append(symbol == UNK)
        elif unit == "byte":
            byte = int(symbol, 16)
            flags.append(byte >= 0x80 or chr(byte).isalpha())
        else:
            flags.append(len(symbol) == 1 and unicodedata.category(symbol)[0] in "LM")
    return flags
