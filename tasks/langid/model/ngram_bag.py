"""Hashed character n-gram bag: the fastText-style view of a text, beside the BiLSTM.

Language ID leans on short character sequences ("sch", "ção", "ij"); a bag of hashed
n-grams sees all of them at once, at the cost of one embedding lookup per n-gram, and
generalises to text of any domain because it ignores order and length. Hashing is done on
the symbol ids inside the graph, so the model keeps its ``(ids, lengths) -> logits``
interface (and its ONNX/TorchScript export). The hash reads each symbol's own code (CRC-32
of its text), not its id, so a fine-tuned model with a new symbol vocabulary keeps its
n-gram table.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

HASH_MULTIPLIER = 1_000_003
HASH_MODULUS = 2_147_483_647  # a prime < 2**31: products stay inside int64
ORDER_SALT = 7_919  # separates the orders' hashes
WORD_SALT = 104_729  # separates words from n-grams of the same symbols
MAX_WORD_SYMBOLS = 1024  # symbols of a word that shape its hash (longer: the rest share one power)


class HashedNgramBag(nn.Module):
    """Symbol ids ``(B, T)`` with ``lengths (B,)`` -> mean n-gram embedding ``(B, D)``, or
    ``(B, 2D)`` with whole-word features.

    For every order ``n`` in ``orders`` and every window of ``n`` symbols inside a text,
    ``h = ((...(c_t M + c_{t+1}) M + ...) + n * salt) mod P mod buckets`` (``c_t`` the code
    of symbol ``t``) picks a row of one
    ``(buckets, D)`` embedding; the output is the mean over all windows of all orders
    (windows reaching into padding are masked). Texts shorter than an order contribute no
    window of that order.

    With ``word_buckets > 0`` every word (a maximal run of symbols flagged in
    ``word_symbols``) also picks one of ``word_buckets`` further rows of the table, by
    ``h = (sum_k c_{s+k} M^k + salt) mod P mod word_buckets`` over its symbols ``s..e``; the
    mean over the text's words is appended to the n-gram mean. The n-grams of a rare word
    still vote for its language; the word's own row remembers a whole word that was seen,
    however long (a 4-gram is shared by many words and languages, a word much less often).

    Args:
        symbols: the symbol vocabulary (``itos``); symbol ``i`` hashes as CRC-32 of its text.
        buckets: rows of the hashed embedding table.
        dim: embedding size ``D``.
        orders: n-gram lengths.
        dropout: dropout on the mean embedding.
        word_buckets: rows for whole words (0: no word features).
        word_symbols: per symbol, whether it belongs to words
            (:func:`tasks.langid.data.text_units.word_symbols`); needed with ``word_buckets``.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        buckets: int,
        dim: int,
        orders: Sequence[int] = (1, 2, 3, 4),
        dropout: float = 0.0,
        word_buckets: int = 0,
        word_symbols: Sequence[bool] | None = None,
    ) -> None:
        super().__init__()
        if buckets < 1 or not orders or min(orders) < 1 or word_buckets < 0:
            raise ValueError(
                f"encoder.ngram_buckets={buckets}, encoder.ngram_orders={list(orders)} and "
                f"encoder.ngram_word_buckets={word_buckets} must be positive (word buckets: 0 "
                "for none)"
            )
        if word_buckets and (word_symbols is None or len(word_symbols) != len(symbols)):
            raise ValueError("word features need one word_symbols flag per symbol")
        self.buckets, self.word_buckets = buckets, word_buckets
        codes = [zlib.crc32(symbol.encode("utf-8")) for symbol in symbols]
        # Derived from the vocabulary at construction: not part of the weights.
        self.register_buffer("codes", torch.tensor(codes, dtype=torch.long), persistent=False)
        flags = list(word_symbols) if word_buckets else [False] * len(symbols)
        self.register_buffer("in_word", torch.tensor(flags, dtype=torch.bool), persistent=False)
        powers = [1]
        for _ in range(MAX_WORD_SYMBOLS - 1):
            powers.append(powers[-1] * HASH_MULTIPLIER % HASH_MODULUS)
        self.register_buffer("powers", torch.tensor(powers, dtype=torch.long), persistent=False)
        self.orders = tuple(int(n) for n in orders)
        self.embedding = nn.Embedding(buckets + word_buckets, dim)
        nn.init.normal_(self.embedding.weight, std=0.05)
        self.dropout = nn.Dropout(dropout)
        self.output_size = dim * (2 if word_buckets else 1)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        hashes, masks = self.ngram_hashes(ids, lengths)
        n_ngram = sum(h.shape[1] for h in hashes)
        if self.word_buckets:
            word_hashes, word_ends = self.word_hashes(ids, lengths)
            hashes, masks = [*hashes, word_hashes], [*masks, word_ends]
        weight = self.embedding.weight
        if not hashes:
            return self.dropout(weight.new_zeros((ids.shape[0], self.output_size)))
        rows, valid = torch.cat(hashes, dim=1), torch.cat(masks, dim=1).to(weight.dtype)
        spans = [slice(0, n_ngram), slice(n_ngram, None)][: 2 if self.word_buckets else 1]
        sums = self.weighted_sums(rows, valid, spans)
        means = [
            total / valid[:, span].sum(dim=1, keepdim=True).clamp_min(1.0)
            for total, span in zip(sums, spans, strict=True)
        ]
        return self.dropout(torch.cat(means, dim=-1))

    def weighted_sums(self, rows: Tensor, valid: Tensor, spans: list[slice]) -> list[Tensor]:
        """Table rows ``(B, N)`` with 0/1 weights ``(B, N)`` -> per span of the N columns,
        the ``(B, D)`` sum of the valid rows' embeddings.

        Training looks every row up at once: each lookup's backward writes a dense
        table-sized gradient, so one lookup per span (or per n-gram order) would pay that
        pass once per span. Without gradients ``embedding_bag`` sums the weighted rows
        without the ``(B, N, D)`` tensor of every looked-up row, eight times faster at a
        batch of 256 texts; the ONNX graph keeps the lookup and the sum, which every runtime
        has."""
        weight = self.embedding.weight
        if (torch.is_grad_enabled() and weight.requires_grad) or torch.onnx.is_in_onnx_export():
            looked_up = self.embedding(rows) * valid.unsqueeze(-1)
            return [looked_up[:, span].sum(dim=1) for span in spans]
        return [
            F.embedding_bag(rows[:, span], weight, per_sample_weights=valid[:, span], mode="sum")
            for span in spans
        ]

    def ngram_hashes(self, ids: Tensor, lengths: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Per order, the table rows ``(B, T - n + 1)`` of the windows and their validity."""
        steps = ids.shape[1]
        codes = self.codes[ids]
        hashes, masks = [], []
        for n in self.orders:
            if steps < n:
                continue
            width = steps - n + 1
            hashed = codes[:, :width]
            for k in range(1, n):
                hashed = (hashed * HASH_MULTIPLIER + codes[:, k : k + width]) % HASH_MODULUS
            hashes.append((hashed + n * ORDER_SALT) % HASH_MODULUS % self.buckets)
            masks.append(torch.arange(width, device=ids.device) < (lengths - n + 1).unsqueeze(1))
        return hashes, masks

    def word_hashes(self, ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Table rows ``(B, T)`` of the word ending at each position, valid ``(B, T)`` where
        a word ends."""
        batch, steps = ids.shape
        positions = torch.arange(steps, device=ids.device).expand(batch, steps)
        letter = self.in_word[ids] & (positions < lengths.unsqueeze(1))
        before = F.pad(letter[:, :-1], (1, 0), value=False)
        after = F.pad(letter[:, 1:], (0, 1), value=False)
        starts, ends = letter & ~before, letter & ~after
        # Word k of a text starts at start_of[k]; column 0 takes the writes of the other
        # positions and is never read for a letter.
        word_number = starts.long().cumsum(dim=1)
        start_of = torch.zeros(batch, steps + 1, dtype=torch.long, device=ids.device)
        start_of = start_of.scatter(1, word_number * starts, positions)
        start = start_of.gather(1, word_number)
        offset = (positions - start).clamp(0, MAX_WORD_SYMBOLS - 1)
        # c * M^k < 2**32 * 2**31 stays inside int64, and so does a running sum of T terms
        # below 2**31 each.
        terms = torch.where(letter, self.codes[ids] * self.powers[offset] % HASH_MODULUS, 0)
        running = terms.cumsum(dim=1)
        before_word = (running - terms).gather(1, start)
        hashed = (running - before_word + WORD_SALT) % HASH_MODULUS
        return self.buckets + hashed % self.word_buckets, ends
