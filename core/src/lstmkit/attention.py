"""Soft attention over a memory of keys, with key-padding masks.

Every attention module maps a query ``q`` of shape ``(B, Hq)`` and keys ``k`` of shape
``(B, S, Hk)`` to scores ``e`` of shape ``(B, S)``, then::

    alpha = softmax(e)  over the valid positions only (masked positions get exactly 0)
    context = sum_s alpha_s * k_s                      (B, Hk)

The key projection does not depend on the query, so a decoder computes it once per
sequence with :meth:`Attention.project_keys` and passes it to every step.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over the last dimension, with exactly zero weight where ``mask`` is False.

    Computed and returned in at least float32 (bfloat16/float16 scores under autocast
    would round the weights, whose sums the doubly stochastic penalty reads).

    Args:
        scores: ``(B, S)`` attention scores.
        mask: ``(B, S)`` bool, True for valid positions, or None (all valid).

    Raises:
        ValueError: if ``mask`` is not a bool ``(B, S)`` tensor or a row has no valid position.
    """
    dtype = torch.promote_types(scores.dtype, torch.float32)
    if mask is None:
        return torch.softmax(scores, dim=-1, dtype=dtype)
    if mask.dtype != torch.bool or mask.shape != scores.shape:
        raise ValueError(
            f"attention mask must be a bool tensor of shape {tuple(scores.shape)} "
            f"(True = valid position), got {mask.dtype} {tuple(mask.shape)}"
        )
    empty_rows = (~mask.any(dim=-1)).nonzero().flatten()
    if empty_rows.numel() > 0:
        raise ValueError(
            f"attention mask has no valid position in batch rows {empty_rows.tolist()}: "
            "every sequence in the memory needs at least one unmasked step"
        )
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1, dtype=dtype)


class Attention(nn.Module):
    """Base class: subclasses define :meth:`project_keys` and :meth:`score`."""

    def project_keys(self, keys: Tensor) -> Tensor:
        """Query-independent part of the score, ``(B, S, Hk) -> (B, S, *)``."""
        raise NotImplementedError

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        """Scores ``e`` of shape ``(B, S)`` from ``query (B, Hq)`` and projected keys."""
        raise NotImplementedError

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        mask: Tensor | None = None,
        projected_keys: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Attend over ``keys`` with ``query``.

        Args:
            query: ``(B, Hq)``.
            keys: ``(B, S, Hk)``; also the values that the context averages.
            mask: ``(B, S)`` bool, True for valid positions; None means all valid.
            projected_keys: ``self.project_keys(keys)``, to reuse it across decoder steps.

        Returns:
            ``(context, weights)``: ``(B, Hk)`` and ``(B, S)``; each row of ``weights``
            sums to 1 and is exactly 0 at masked positions. ``weights`` are at least
            float32 (see :func:`masked_softmax`).
        """
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        weights = masked_softmax(self.score(query, projected_keys), mask)
        context = torch.bmm(weights.unsqueeze(1).to(keys.dtype), keys).squeeze(1)
        return context, weights


class AdditiveAttention(Attention):
    """Additive attention (Bahdanau et al. 2015): ``e_s = v^T tanh(W_q q + W_k k_s + b)``.

    Args:
        query_size: ``Hq``.
        key_size: ``Hk``.
        attention_size: width ``A`` of the hidden layer inside the score.
    """

    def __init__(
        self,
        query_size: int,
        key_size: int,
        attention_size: int,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.query_proj = nn.Linear(query_size, attention_size, bias=False, **factory)
        self.key_proj = nn.Linear(key_size, attention_size, bias=True, **factory)
        self.v = nn.Linear(attention_size, 1, bias=False, **factory)

    def project_keys(self, keys: Tensor) -> Tensor:
        """``W_k k + b``: ``(B, S, Hk) -> (B, S, A)``."""
        return self.key_proj(keys)

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        # e = v^T tanh(W_q q + W_k k + b)
        hidden = torch.tanh(projected_keys + self.query_proj(query).unsqueeze(1))
        return self.v(hidden).squeeze(-1)


class MultiplicativeAttention(Attention):
    """Multiplicative attention (Luong et al. 2015).

    ``score="general"``: ``e_s = q^T W k_s``; ``score="dot"``: ``e_s = q^T k_s``
    (needs ``query_size == key_size``).
    """

    def __init__(
        self,
        query_size: int,
        key_size: int,
        score: str = "general",
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if score not in ("general", "dot"):
            raise ValueError(f"score must be 'general' or 'dot', got {score!r}")
        if score == "dot" and query_size != key_size:
            raise ValueError(
                f"dot attention needs query_size == key_size, got {query_size} and {key_size}; "
                "use score='general' to learn a projection between them"
            )
        self.score_type = score
        self.key_proj = (
            nn.Linear(key_size, query_size, bias=False, device=device, dtype=dtype)
            if score == "general"
            else None
        )

    def project_keys(self, keys: Tensor) -> Tensor:
        """``W k`` for "general" (``(B, S, Hq)``), the keys themselves for "dot"."""
        return keys if self.key_proj is None else self.key_proj(keys)

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        # e_s = q^T (W k_s)
        return torch.bmm(projected_keys, query.unsqueeze(-1)).squeeze(-1)

    def extra_repr(self) -> str:
        return f"score={self.score_type!r}"
