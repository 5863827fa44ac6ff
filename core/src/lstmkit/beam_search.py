"""Batched greedy and beam search over any autoregressive step function.

A decoder plugs in through a ``step`` callable::

    log_probs, state, extras = step(tokens, state)
    # tokens (N,) long: the previous token of each hypothesis (BOS at the first call)
    # log_probs (N, V): log p(next token | prefix)
    # extras (N, ...) or None: anything to keep per emitted token (e.g. attention weights)

and a ``reorder_state(state, index)`` callable that selects hypotheses (rows) of the
state; the default, :func:`select_rows`, indexes dim 0 of every tensor in a nested
tuple/list/dict. All ``B * K`` hypotheses advance together in one call of ``step``.

Conventions shared by both searches: ``max_len`` bounds the number of emitted tokens,
EOS included; returned tokens exclude BOS and the final EOS; ``log_prob`` includes the
EOS log-probability of finished hypotheses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

State = Any
StepFn = Callable[[Tensor, State], tuple[Tensor, State, Tensor | None]]
ReorderFn = Callable[[State, Tensor], State]


@dataclass
class Hypothesis:
    """One decoded sequence.

    Attributes:
        tokens: ``(L,)`` emitted token ids, without BOS and without the final EOS.
        score: ranking score, ``log_prob / lp(length)`` (equal to ``log_prob`` without
            length penalty).
        log_prob: sum of the log-probabilities of the emitted tokens, EOS included.
        finished: True if the sequence ended with EOS, False if ``max_len`` cut it.
        extras: ``(L, ...)`` the step's extras for each token in ``tokens``, or None.
    """

    tokens: Tensor
    score: float
    log_prob: float
    finished: bool
    extras: Tensor | None = None


def select_rows(state: State, index: Tensor) -> State:
    """Index dim 0 of every tensor in a nested tuple/list/dict (None passes through)."""
    if isinstance(state, Tensor):
        return state.index_select(0, index)
    if isinstance(state, dict):
        return {key: select_rows(value, index) for key, value in state.items()}
    if isinstance(state, (tuple, list)):
        return type(state)(select_rows(value, index) for value in state)
    if state is None:
        return None
    raise TypeError(f"cannot reorder a decoder state of type {type(state).__name__}")


def gnmt_length_penalty(length: Tensor, alpha: float) -> Tensor:
    """GNMT length penalty (Wu et al. 2016): ``lp(Y) = ((5 + |Y|) / 6) ** alpha``."""
    return ((5.0 + length) / 6.0) ** alpha


def _check_lengths(max_len: int, beam_size: int = 1, n_best: int = 1) -> None:
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"n_best must be in [1, beam_size={beam_size}], got {n_best}")


def _hypothesis(
    history: Tensor,
    extras: Tensor | None,
    length: int,
    finished: bool,
    log_prob: float,
    score: float,
) -> Hypothesis:
    keep = length - int(finished)  # drop the final EOS
    return Hypothesis(
        tokens=history[:keep].clone(),
        score=score,
        log_prob=log_prob,
        finished=finished,
        extras=None if extras is None else extras[:keep].clone(),
    )


def _append(history: Tensor | None, new: Tensor | None) -> Tensor | None:
    """``(N, t, ...)`` + ``(N, ...)`` -> ``(N, t + 1, ...)``."""
    if new is None:
        return None
    new = new.unsqueeze(1)
    return new if history is None else torch.cat([history, new], dim=1)


def greedy_search(
    step: StepFn,
    state: State,
    *,
    batch_size: int,
    bos: int,
    eos: int,
    max_len: int,
    device: torch.device | str | None = None,
) -> list[Hypothesis]:
    """Pick the most probable token at every step; one hypothesis per batch item.

    Args:
        step: the decoder step (see the module docstring).
        state: initial decoder state for the ``B`` batch items.
        batch_size: ``B``.
        bos, eos: begin/end-of-sequence token ids.
        max_len: maximum number of emitted tokens, EOS included.
        device: device of the token tensors.

    Returns:
        ``B`` hypotheses, in batch order.
    """
    _check_lengths(max_len)
    tokens = torch.full((batch_size,), bos, dtype=torch.long, device=device)
    finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch_size, dtype=torch.long, device=device)
    # float32 at least (type promotion), also when the step returns bfloat16/float16
    log_prob = torch.zeros(batch_size, device=device)
    history: Tensor | None = None
    extras_history: Tensor | None = None
    for _ in range(max_len):
        log_probs, state, extras = step(tokens, state)
        best_log_prob, best = log_probs.max(dim=-1)
        # finished sequences keep emitting EOS at log-probability 0
        tokens = best.masked_fill(finished, eos)
        best_log_prob = best_log_prob.masked_fill(finished, 0.0)
        log_prob = log_prob + best_log_prob
        lengths += ~finished
        finished = finished | (tokens == eos)
        history = _append(history, tokens)
        extras_history = _append(extras_history, extras)
        if bool(finished.all()):
            break
    return [
        _hypothesis(
            history[b],
            None if extras_history is None else extras_history[b],
            int(lengths[b]),
            bool(finished[b]),
            float(log_prob[b]),
            float(log_prob[b]),
        )
        for b in range(batch_size)
    ]


def _block_repeated_ngrams(log_probs: Tensor, history: Tensor | None, n: int) -> Tensor:
    """Set ``-inf`` on every token that would repeat an n-gram already in ``history``.

    Args:
        log_probs: ``(N, V)``.
        history: ``(N, t)`` emitted tokens so far (BOS excluded), or None at the start.
        n: n-gram size.
    """
    if history is None or history.size(1) < n:
        return log_probs
    t = history.size(1)
    windows = history.unfold(1, n, 1)  # (N, t - n + 1, n): every n-gram so far
    prefix = history[:, t - n + 1 :]  # (N, n - 1): the n-gram being completed
    matches = (windows[:, :, : n - 1] == prefix.unsqueeze(1)).all(dim=-1)
    banned = torch.zeros_like(log_probs).scatter_reduce_(
        1, windows[:, :, -1], matches.to(log_probs.dtype), reduce="amax"
    )
    return log_probs.masked_fill(banned.bool(), float("-inf"))


def beam_search(
    step: StepFn,
    state: State,
    *,
    batch_size: int,
    bos: int,
    eos: int,
    beam_size: int,
    max_len: int,
    length_penalty: float = 0.0,
    no_repeat_ngram_size: int = 0,
    n_best: int = 1,
    reorder_state: ReorderFn = select_rows,
    device: torch.device | str | None = None,
) -> list[list[Hypothesis]]:
    """Batched beam search: the ``K`` best hypotheses of each of ``B`` items in one tensor.

    At each step every hypothesis is extended by every token, and the ``K`` best of the
    ``K * V`` candidates of each item are kept, ranked by
    ``log p(Y) / lp(|Y|)`` with the GNMT penalty ``lp(|Y|) = ((5 + |Y|) / 6) ** alpha``.
    A hypothesis that emitted EOS stays in the beam with its score frozen: its only
    candidate is itself (it is never expanded), and it competes with the others until
    the end. The search stops when every hypothesis is finished or after ``max_len``
    tokens.

    Args:
        step: the decoder step (see the module docstring).
        state: initial decoder state for the ``B`` batch items; ``reorder_state``
            expands it to ``B * K`` rows (hypothesis ``b * K + k`` is beam ``k`` of item ``b``).
        batch_size: ``B``.
        bos, eos: begin/end-of-sequence token ids.
        beam_size: ``K``.
        max_len: maximum number of emitted tokens, EOS included.
        length_penalty: ``alpha``; 0 ranks by the raw log-probability.
        no_repeat_ngram_size: if > 0, no n-gram of this size occurs twice in a hypothesis.
        n_best: how many hypotheses to return per item.
        reorder_state: ``(state, index (M,)) -> state`` selecting rows ``index``.
        device: device of the token and score tensors.

    Returns:
        For each batch item, its ``n_best`` hypotheses, best first (fewer if the
        vocabulary cannot fill the beam).
    """
    _check_lengths(max_len, beam_size, n_best)
    B, K = batch_size, beam_size
    offsets = torch.arange(B, device=device).unsqueeze(1) * K  # (B, 1)
    state = reorder_state(state, torch.arange(B, device=device).repeat_interleave(K))
    tokens = torch.full((B * K,), bos, dtype=torch.long, device=device)
    finished = torch.zeros(B * K, dtype=torch.bool, device=device)
    lengths = torch.zeros(B * K, dtype=torch.long, device=device)
    # all beams start as the same empty hypothesis: keep only one of them alive
    log_prob = torch.full((B, K), float("-inf"), device=device)
    log_prob[:, 0] = 0.0
    log_prob = log_prob.view(-1)
    history: Tensor | None = None
    extras_history: Tensor | None = None
    for _ in range(max_len):
        log_probs, state, extras = step(tokens, state)
        V = log_probs.size(-1)
        if no_repeat_ngram_size > 0:
            log_probs = _block_repeated_ngrams(log_probs, history, no_repeat_ngram_size)
        # a finished hypothesis has one candidate, itself (EOS at log-probability 0)
        frozen = torch.full_like(log_probs[0], float("-inf"))
        frozen[eos] = 0.0
        log_probs = torch.where(finished.unsqueeze(1), frozen, log_probs)
        # float32 scores at least (type promotion), also for bfloat16/float16 log_probs
        candidates = log_prob.unsqueeze(1) + log_probs  # (B*K, V)
        candidate_lengths = lengths + (~finished).long()
        ranking = candidates
        if length_penalty != 0.0:
            penalty = gnmt_length_penalty(candidate_lengths.to(candidates.dtype), length_penalty)
            ranking = candidates / penalty.unsqueeze(1)
        best = ranking.view(B, K * V).topk(K, dim=1).indices  # (B, K)
        parent = (best // V + offsets).view(-1)
        tokens = (best % V).view(-1)
        log_prob = candidates.view(B, K * V).gather(1, best).view(-1)
        lengths = candidate_lengths[parent]
        finished = finished[parent] | (tokens == eos)
        history = _append(None if history is None else history[parent], tokens)
        extras_history = _append(
            None if extras_history is None else extras_history[parent],
            None if extras is None else extras[parent],
        )
        state = reorder_state(state, parent)
        if bool(finished.all()):
            break
    score = log_prob
    if length_penalty != 0.0:
        score = log_prob / gnmt_length_penalty(lengths.to(log_prob.dtype), length_penalty)
    # topk sorted each item's beams by ranking, which is the final score
    results = []
    for b in range(B):
        rows = [b * K + k for k in range(K) if torch.isfinite(log_prob[b * K + k])][:n_best]
        results.append(
            [
                _hypothesis(
                    history[r],
                    None if extras_history is None else extras_history[r],
                    int(lengths[r]),
                    bool(finished[r]),
                    float(log_prob[r]),
                    float(score[r]),
                )
                for r in rows
            ]
        )
    return results
