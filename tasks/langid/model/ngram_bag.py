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

HASH_MULTIPLIER = 1_000_003
HASH_MODULUS = 2_147_483_647  # a prime < 2**31: products stay inside int64
ORDER_SALT = 7_919  # separates the orders' hashes


class HashedNgramBag(nn.Module):
    """Symbol ids ``(B, T)`` with ``lengths (B,)`` -> mean n-gram embedding ``(B, D)``.

    For every order ``n`` in ``orders`` and every window of ``n`` symbols inside a text,
    ``h = ((...(c_t M + c_{t+1}) M + ...) + n * salt) mod P mod buckets`` (``c_t`` the code
    of symbol ``t``) picks a row of one
    ``(buckets, D)`` embedding; the output is the mean over all windows of all orders
    (windows reaching into padding are masked). Texts shorter than an order contribute no
    window of that order.

    Args:
        symbols: the symbol vocabulary (``itos``); symbol ``i`` hashes as CRC-32 of its text.
        buckets: rows of the hashed embedding table.
        dim: embedding size ``D``.
        orders: n-gram lengths.
        dropout: dropout on the mean embedding.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        buckets: int,
        dim: int,
        orders: Sequence[int] = (1, 2, 3, 4),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if buckets < 1 or not orders or min(orders) < 1:
            raise ValueError(
                f"encoder.ngram_buckets={buckets} and encoder.ngram_orders={list(orders)} must "
                "be positive"
            )
        self.buckets = buckets
        codes = [zlib.crc32(symbol.encode("utf-8")) for symbol in symbols]
        # Derived from the vocabulary at construction: not part of the weights.
        self.register_buffer("codes", torch.tensor(codes, dtype=torch.long), persistent=False)
        self.orders = tuple(int(n) for n in orders)
        self.embedding = nn.Embedding(buckets, dim)
        nn.init.normal_(self.embedding.weight, std=0.05)
        self.dropout = nn.Dropout(dropout)
        self.output_size = dim

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        batch, steps = ids.shape
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
        weight = self.embedding.weight
        if not hashes:
            return self.dropout(weight.new_zeros((batch, self.output_size)))
        # One lookup over every order's windows: each lookup's backward writes a dense
        # (buckets, D) gradient, so one per order cost a table-sized pass per order.
        valid = torch.cat(masks, dim=1).unsqueeze(-1).to(weight.dtype)
        total = (self.embedding(torch.cat(hashes, dim=1)) * valid).sum(dim=1)
        return self.dropout(total / valid.sum(dim=1).clamp_min(1.0))
