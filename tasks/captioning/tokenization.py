"""Caption tokenisation and the caption vocabulary.

One tokeniser serves training, decoding and scoring, so BLEU/CIDEr see exactly the tokens the
model predicts (pycocoevalcap's PTB tokeniser needs Java, which is not required here).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tasks.text.vocabulary import Vocabulary

SPECIALS: tuple[str, ...] = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(len(SPECIALS))
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize(caption: str) -> list[str]:
    """Lower-cased words; punctuation dropped: ``"Two red squares."`` -> ``["two", "red", "squares"]``."""
    return _WORD.findall(caption.lower())


def build_vocabulary(captions: Iterable[str], min_freq: int = 1) -> Vocabulary:
    """Word vocabulary of ``captions`` with ``<pad> <bos> <eos> <unk>`` at indices 0-3."""
    return Vocabulary.build(
        (tokenize(c) for c in captions), specials=SPECIALS, unk="<unk>", min_freq=min_freq
    )


def encode_caption(vocab: Vocabulary, caption: str, max_length: int) -> list[int]:
    """``<bos> w_1 .. w_n <eos>`` ids, the words truncated to ``max_length``."""
    return [BOS, *vocab.encode(tokenize(caption)[:max_length]), EOS]


def decode_caption(vocab: Vocabulary, ids: Iterable[int]) -> str:
    """Words up to the first ``<eos>``, specials dropped."""
    words = []
    for i in ids:
        if i == EOS:
            break
        words.append(int(i))
    return " ".join(vocab.decode(words))
