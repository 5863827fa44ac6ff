"""The hashed character n-gram bag beside the BiLSTM."""

from __future__ import annotations

import zlib

import pytest
import torch

from tasks.langid.data.text_units import word_symbols
from tasks.langid.model.ngram_bag import (
    HASH_MODULUS,
    HASH_MULTIPLIER,
    ORDER_SALT,
    WORD_SALT,
    HashedNgramBag,
)

SYMBOLS = ["<pad>", "<unk>", "a", "b", "c", "d"]


def bag(symbols: list[str]) -> HashedNgramBag:
    torch.manual_seed(0)
    return HashedNgramBag(symbols, buckets=64, dim=5, orders=(1, 2, 3)).eval()


def test_padding_and_batch_neighbours_do_not_change_a_text() -> None:
    model = bag(SYMBOLS)
    alone = model(torch.tensor([[2, 3, 4]]), torch.tensor([3]))
    padded = model(torch.tensor([[2, 3, 4, 0, 0], [5, 4, 3, 2, 5]]), torch.tensor([3, 5]))
    assert alone.shape == (1, 5)
    torch.testing.assert_close(padded[0], alone[0])
    assert not torch.allclose(padded[1], alone[0])
    # a text shorter than the highest order still gets its unigrams and bigrams
    short = model(torch.tensor([[2, 3]]), torch.tensor([2]))
    assert torch.isfinite(short).all() and short.abs().sum() > 0


def test_hash_follows_the_symbols_not_their_ids() -> None:
    """A fine-tuned vocabulary orders symbols differently; the same text keeps its n-grams."""
    reordered = ["<pad>", "<unk>", "d", "c", "b", "a"]
    original = bag(SYMBOLS)(torch.tensor([[2, 3, 4, 5]]), torch.tensor([4]))  # "abcd"
    moved = bag(reordered)(torch.tensor([[5, 4, 3, 2]]), torch.tensor([4]))  # "abcd" too
    torch.testing.assert_close(moved, original)
    assert "codes" not in bag(SYMBOLS).state_dict()  # derived from the vocabulary, not saved


def test_output_is_the_mean_embedding_of_every_window() -> None:
    """``h = ((c_t M + c_{t+1}) M + ...) + n * salt) mod P mod buckets``, over all orders."""
    model = bag(SYMBOLS)
    codes = [zlib.crc32(s.encode("utf-8")) for s in SYMBOLS]
    text = [2, 3, 4, 5]  # "abcd"
    rows = []
    for n in (1, 2, 3):
        for start in range(len(text) - n + 1):
            h = 0
            for symbol in text[start : start + n]:
                h = (h * HASH_MULTIPLIER + codes[symbol]) % HASH_MODULUS
            rows.append((h + n * ORDER_SALT) % HASH_MODULUS % model.buckets)
    expected = model.embedding.weight[rows].mean(dim=0, keepdim=True)
    padded = model(torch.tensor([[*text, 0, 0]]), torch.tensor([4]))
    torch.testing.assert_close(padded, expected)
    padded.sum().backward()
    touched = model.embedding.weight.grad.abs().sum(dim=1).nonzero().flatten().tolist()
    assert touched == sorted(set(rows))  # padding windows reach no row


WORD_SYMBOLS = [
    "<pad>",
    "<unk>",
    "a",
    "b",
    "c",
    " ",
    ".",
    "\u093e",
]  # ... space, full stop, a vowel sign


def word_bag() -> HashedNgramBag:
    torch.manual_seed(0)
    flags = word_symbols(WORD_SYMBOLS, "char")
    return HashedNgramBag(
        WORD_SYMBOLS, buckets=64, dim=5, orders=(1, 2), word_buckets=1 << 20, word_symbols=flags
    ).eval()


def word_rows(model: HashedNgramBag, text: list[int]) -> list[int]:
    """The rows of ``text``'s words as a plain loop computes them."""
    codes = [zlib.crc32(s.encode("utf-8")) for s in WORD_SYMBOLS]
    rows, word = [], []
    for symbol in [*text, 0]:
        if model.in_word[symbol]:
            word.append(symbol)
        elif word:
            h = sum(codes[s] * HASH_MULTIPLIER**k for k, s in enumerate(word))
            rows.append(model.buckets + (h + WORD_SALT) % HASH_MODULUS % model.word_buckets)
            word = []
    return rows


def test_word_symbols_split_at_spaces_digits_and_punctuation() -> None:
    assert word_symbols(["<pad>", "<unk>", "a", "\u00e9", " ", "1", ".", "\u093e", "\u4e2d"], "char") == [
        False, True, True, True, False, False, False, True, True
    ]  # fmt: skip
    # bytes: ASCII letters, and every byte of a multi-byte character
    assert word_symbols(["<pad>", "<unk>", "41", "20", "2e", "c3", "a9"], "byte") == [
        False, True, True, False, False, True, True
    ]  # fmt: skip


def test_a_word_gets_one_row_wherever_it_stands() -> None:
    """``h = (sum_k c_{s+k} M^k + salt) mod P mod word_buckets``, one row per word."""
    model = word_bag()
    first = [2, 3, 5, 3, 4, 7, 6, 2, 3]  # "ab bcा.ab": the vowel sign stays inside "bcा"
    second = [3, 4, 7, 5, 5, 2, 3, 6]  # "bcा  ab."
    ids = torch.tensor([first, [*second, 0]])
    hashes, ends = model.word_hashes(ids, torch.tensor([9, 8]))
    found = [hashes[b][ends[b]].tolist() for b in range(2)]
    assert found == [word_rows(model, first), word_rows(model, second)]
    assert found[0][0] == found[0][2] == found[1][1]  # "ab" in three places
    assert len({found[0][0], found[0][1]}) == 2  # "ab" and "bcा" differ


def test_word_features_append_the_mean_of_the_word_rows() -> None:
    model = word_bag()
    text = [2, 3, 5, 3, 4, 6]  # "ab bc."
    out = model(torch.tensor([[*text, 0, 0]]), torch.tensor([6]))
    assert out.shape == (1, 10) and model.output_size == 10
    expected = model.embedding.weight[word_rows(model, text)].mean(dim=0)
    torch.testing.assert_close(out[0, 5:], expected)
    alone = HashedNgramBag(WORD_SYMBOLS, buckets=64, dim=5, orders=(1, 2)).eval()
    alone.embedding.weight.data = model.embedding.weight.data[:64]
    torch.testing.assert_close(out[:, :5], alone(torch.tensor([text]), torch.tensor([6])))
    # a text without letters has no word: its word half is zero, not NaN
    none = model(torch.tensor([[5, 6]]), torch.tensor([2]))
    assert torch.equal(none[0, 5:], torch.zeros(5))


def test_word_features_need_a_flag_per_symbol() -> None:
    with pytest.raises(ValueError, match="word_symbols"):
        HashedNgramBag(WORD_SYMBOLS, buckets=64, dim=5, word_buckets=8)
    with pytest.raises(ValueError, match="ngram_word_buckets=-1"):
        HashedNgramBag(WORD_SYMBOLS, buckets=64, dim=5, word_buckets=-1)


def test_inference_sums_the_same_rows_as_training() -> None:
    """Without gradients the bag sums its rows with ``embedding_bag``; with them, a lookup."""
    model = word_bag()
    ids = torch.tensor([[2, 3, 5, 3, 4, 7, 6, 2, 3], [3, 4, 5, 2, 0, 0, 0, 0, 0]])
    lengths = torch.tensor([9, 4])
    with torch.no_grad():
        summed = model(ids, lengths)
    looked_up = model(ids, lengths)
    assert looked_up.requires_grad and not summed.requires_grad
    torch.testing.assert_close(summed, looked_up)
