"""Deterministic train/validation/test assignment by hashing the normalised text.

The split of a sentence depends on nothing but its characters, so it is stable across
machines, sources and corpus sizes. Texts are compared after :func:`dedup_key`
(Unicode NFKC, case folded, runs of whitespace and punctuation collapsed to one space), so
"Open file…", "open file" and "Open  File!" are one sentence: it lands in one split only.
"""

from __future__ import annotations

import hashlib
import sys
import unicodedata
from functools import cache

SPLITS = ("train", "validation", "test")


@cache
def _separators() -> dict[int, str]:
    """``str.translate`` table: every punctuation (P*) or separator (Z*) code point -> space."""
    return {
        code: " "
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code))[0] in "PZ"
    }


def dedup_key(text: str) -> str:
    """``text`` as compared for duplicates: NFKC, casefold, whitespace/punctuation runs -> " "."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.translate(_separators()).split())


def unit_hash(text: str, salt: str = "") -> float:
    """A number in ``[0, 1)`` fixed by ``salt + text`` (first 8 bytes of its SHA-1)."""
    digest = hashlib.sha1((salt + text).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_of(text: str, val_fraction: float, test_fraction: float) -> str:
    """``"train"``, ``"validation"`` or ``"test"`` for ``text`` (pass its :func:`dedup_key`).

    ``u = unit_hash(text)``: test when ``u < test_fraction``, validation when
    ``u < test_fraction + val_fraction``, train otherwise.
    """
    u = unit_hash(text, "split:")
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "validation"
    return "train"
