"""The hashed character n-gram bag beside the BiLSTM."""

from __future__ import annotations

import zlib

import torch

from tasks.langid.model.ngram_bag import (
    HASH_MODULUS,
    HASH_MULTIPLIER,
    ORDER_SALT,
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
