"""Deterministic train/validation/test assignment by hashing the text itself.

The split of a sentence depends on nothing but its characters, so it is stable across
machines, catalog sets and corpus sizes, and one sentence never lands in two splits.
"""

from __future__ import annotations

import hashlib

SPLITS = ("train", "validation", "test")


def unit_hash(text: str, salt: str = "") -> float:
    """A number in ``[0, 1)`` fixed by ``salt + text`` (first 8 bytes of its SHA-1)."""
    digest = hashlib.sha1((salt + text).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_of(text: str, val_fraction: float, test_fraction: float) -> str:
    """``"train"``, ``"validation"`` or ``"test"`` for ``text``.

    ``u = unit_hash(text)``: test when ``u < test_fraction``, validation when
    ``u < test_fraction + val_fraction``, train otherwise.
    """
    u = unit_hash(text, "split:")
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "validation"
    return "train"
