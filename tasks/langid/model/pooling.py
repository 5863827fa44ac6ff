"""Sequence pooling: encoder states ``(B, T, D)`` -> one utterance vector ``(B, D)`` (``2D`` for
statistics pooling)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

POOLINGS = ("attention", "mean", "stats", "last")


class AttentionPooling(nn.Module):
    """Additive self-attention pooling (Yang et al. 2016):

    ``e_t = v^T tanh(W h_t + b)``, ``a = softmax_t(e)`` over valid steps, ``z = sum_t a_t h_t``.
    """

    def __init__(self, dim: int, attention_dim: int) -> None:
        super().__init__()
        self.output_size = dim
        self.proj = nn.Linear(dim, attention_dim)
        self.score = nn.Linear(attention_dim, 1, bias=False)

    def forward(self, states: Tensor, mask: Tensor, final: Tensor) -> Tensor:
        scores = self.score(torch.tanh(self.proj(states))).squeeze(-1)  # (B, T)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)
        return torch.bmm(weights.unsqueeze(1), states).squeeze(1)


class MeanPooling(nn.Module):
    """``z = sum_t m_t h_t / sum_t m_t`` with the validity mask ``m``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.output_size = dim

    def forward(self, states: Tensor, mask: Tensor, final: Tensor) -> Tensor:
        m = mask.unsqueeze(-1).to(states.dtype)
        return (states * m).sum(1) / m.sum(1).clamp_min(1.0)


class StatsPooling(nn.Module):
    """Statistics pooling (x-vectors, Snyder et al. 2018): mean and standard deviation of the
    valid steps, ``z = [mu ; sigma]`` of size ``2D`` with ``mu = sum_t m_t h_t / sum_t m_t`` and
    ``sigma = sqrt(sum_t m_t (h_t - mu)^2 / sum_t m_t + eps)``."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.output_size = 2 * dim
        self.eps = eps

    def forward(self, states: Tensor, mask: Tensor, final: Tensor) -> Tensor:
        m = mask.unsqueeze(-1).to(states.dtype)
        count = m.sum(1).clamp_min(1.0)
        mean = (states * m).sum(1) / count
        var = (((states - mean.unsqueeze(1)) * m) ** 2).sum(1) / count
        return torch.cat([mean, (var + self.eps).sqrt()], dim=-1)


class LastPooling(nn.Module):
    """The encoder's final state: forward direction at the true end, backward at step 0."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.output_size = dim

    def forward(self, states: Tensor, mask: Tensor, final: Tensor) -> Tensor:
        return final


def build_pooling(kind: str, dim: int, attention_dim: int) -> nn.Module:
    """One of :data:`POOLINGS`; every pooling maps ``(states (B,T,D), mask (B,T), final (B,D))``
    to ``(B, output_size)`` (``D``, or ``2D`` for ``stats``)."""
    if kind == "attention":
        return AttentionPooling(dim, attention_dim)
    if kind == "mean":
        return MeanPooling(dim)
    if kind == "stats":
        return StatsPooling(dim)
    if kind == "last":
        return LastPooling(dim)
    raise ValueError(f"encoder.pooling must be one of {POOLINGS}, got {kind!r}")
