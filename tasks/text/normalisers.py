"""Transcript normalisers by name (the ``data.text_normalizer`` option).

A normaliser maps raw text to the form a model is trained on; references, transcripts and
language-model text of one run all go through the same one, so they share an alphabet.
"""

from __future__ import annotations

from collections.abc import Callable

from tasks.text.spoken_form import to_spoken_form


def lower_words(text: str) -> str:
    """Lower case, runs of whitespace collapsed to single spaces, no leading/trailing space."""
    return " ".join(text.lower().split())


def unchanged(text: str) -> str:
    """The text as written."""
    return text


TEXT_NORMALISERS: dict[str, Callable[[str], str]] = {
    "spoken_form": to_spoken_form,
    "lower": lower_words,
    "none": unchanged,
}
