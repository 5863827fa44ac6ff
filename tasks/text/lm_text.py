"""Reading a language model's text: one sentence per line, normalised like the transcripts."""

from __future__ import annotations

from pathlib import Path

from tasks.text.normalisers import TEXT_NORMALISERS
from tasks.text.vocabulary import Vocabulary


def read_lm_text(path: Path, normaliser: str, vocab: Vocabulary) -> list[str]:
    """The lines of an LM text file normalised like the transcripts (``normaliser``: a
    ``data.text_normalizer`` name), without empty lines and lines with characters outside
    ``vocab``."""
    if not path.is_file():
        raise FileNotFoundError(
            f"data.lm_text: {path} is not a file; give a text file with one sentence "
            "per line, 'corpus' (embedded corpus) or null"
        )
    normalise = TEXT_NORMALISERS[normaliser]
    sentences = (normalise(line) for line in path.read_text(encoding="utf-8").splitlines())
    return [t for t in sentences if t.strip() and all(c in vocab for c in t)]
