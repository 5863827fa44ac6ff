"""Text -> symbol ids for the written model: Unicode characters or UTF-8 bytes.

Characters keep each script's symbols as single, highly informative units (one id per
CJK ideograph); bytes need no vocabulary and never meet an unknown symbol. Both map
through a :class:`~tasks.text.vocabulary.Vocabulary` with ``<pad>`` at 0 and ``<unk>`` at 1,
so the embedding table of either follows the vocabulary's rows.
"""

from __future__ import annotations

from collections.abc import Iterable

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
