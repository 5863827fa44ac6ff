"""Attention-LSTM decoder (Show, Attend and Tell, Xu et al. 2015).

At step ``t``, with the previous token ``y_{t-1}`` and state ``(h_{t-1}, c_{t-1})``::

    z_t, alpha_t = attention(h_{t-1}, memory, mask)     z_t (B, D), alpha_t (B, S)
    beta_t       = sigmoid(w_beta^T h_{t-1} + b_beta)   gating scalar (optional)
    z_t          = beta_t * z_t
    h_t, c_t     = LSTMCell([E y_{t-1}; z_t], (h_{t-1}, c_{t-1}))
    logits_t     = W_o dropout(h_t)                                   (default)
                 = L_o dropout(E y_{t-1} + L_h h_t + L_z z_t)          (deep_output=True)

and the initial state comes from the mean of the valid memory positions ``m``::

    h_0 = tanh(W_h0 m + b),  c_0 = W_c0 m + b
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstmkit.attention import AdditiveAttention, Attention, MultiplicativeAttention
from lstmkit.beam_search import Hypothesis, StepFn, beam_search, greedy_search
from lstmkit.cell import LSTMCell

DecoderState = tuple[Tensor, Tensor]


class DecoderMemory(NamedTuple):
    """What every step attends over: memory ``(B, S, D)``, mask ``(B, S)`` or None, and
    the attention's key projection of the memory."""

    memory: Tensor
    mask: Tensor | None
    projected: Tensor

    def repeat_interleave(self, repeats: int) -> DecoderMemory:
        """Repeat each batch item ``repeats`` times along dim 0 (one copy per beam)."""
        return DecoderMemory(
            *(None if x is None else x.repeat_interleave(repeats, dim=0) for x in self)
        )


def doubly_stochastic_penalty(
    weights: Tensor,
    memory_mask: Tensor | None = None,
    target_mask: Tensor | None = None,
    weight: float = 1.0,
) -> Tensor:
    """Doubly stochastic attention regulariser (Xu et al. 2015, eq. 14).

    ``weight * sum_s (1 - sum_t alpha_ts)^2``, summed over the valid memory positions
    ``s`` and the valid target steps ``t``, averaged over the batch.

    Args:
        weights: ``(B, L, S)`` attention weights from :meth:`AttentionLSTMDecoder.forward`.
        memory_mask: ``(B, S)`` bool, True for valid memory positions.
        target_mask: ``(B, L)`` bool, True for real (non-padding) target steps.
        weight: ``lambda``.

    Returns:
        A scalar tensor.
    """
    if target_mask is not None:
        weights = weights * target_mask.unsqueeze(-1).to(weights.dtype)
    deficit = (1.0 - weights.sum(dim=1)) ** 2  # (B, S)
    if memory_mask is not None:
        deficit = deficit * memory_mask.to(deficit.dtype)
    return weight * deficit.sum(dim=1).mean()


class AttentionLSTMDecoder(nn.Module):
    """LSTM decoder with soft attention over an encoder memory.

    Args:
        vocab_size: ``V``, size of the input and output vocabularies.
        memory_size: ``D``, feature size of the encoder memory.
        embedding_size: ``E``, token embedding size.
        hidden_size: ``H``, LSTM hidden size.
        attention: "additive" (Bahdanau), "general" or "dot" (Luong).
        attention_size: width of the additive attention's hidden layer.
        gating: scale the context by ``beta = sigmoid(f_beta(h))`` (Xu et al. 2015, 4.2.1).
        dropout: dropout on the output layer's input.
        init_from_memory: initial ``(h_0, c_0)`` from the mean memory; zeros if False.
        deep_output: output layer ``L_o(E y_{t-1} + L_h h_t + L_z z_t)`` (Xu et al. eq. 7)
            instead of ``W_o h_t``.
        padding_idx: embedding row that stays zero (padding token), or None.
    """

    def __init__(
        self,
        vocab_size: int,
        memory_size: int,
        embedding_size: int = 256,
        hidden_size: int = 512,
        attention: str = "additive",
        attention_size: int = 256,
        gating: bool = True,
        dropout: float = 0.5,
        init_from_memory: bool = True,
        deep_output: bool = False,
        padding_idx: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx, **factory)
        if attention == "additive":
            self.attention: Attention = AdditiveAttention(
                hidden_size, memory_size, attention_size, **factory
            )
        elif attention in ("general", "dot"):
            self.attention = MultiplicativeAttention(
                hidden_size, memory_size, score=attention, **factory
            )
        else:
            raise ValueError(f"attention must be 'additive', 'general' or 'dot', got {attention!r}")
        self.gate = nn.Linear(hidden_size, 1, **factory) if gating else None
        self.cell = LSTMCell(embedding_size + memory_size, hidden_size, **factory)
        self.init_h = nn.Linear(memory_size, hidden_size, **factory) if init_from_memory else None
        self.init_c = nn.Linear(memory_size, hidden_size, **factory) if init_from_memory else None
        self.dropout = nn.Dropout(dropout)
        if deep_output:
            self.deep_hidden = nn.Linear(hidden_size, embedding_size, **factory)
            self.deep_context = nn.Linear(memory_size, embedding_size, **factory)
            self.output = nn.Linear(embedding_size, vocab_size, **factory)
        else:
            self.deep_hidden = self.deep_context = None
            self.output = nn.Linear(hidden_size, vocab_size, **factory)

    def prepare(self, memory: Tensor, memory_mask: Tensor | None) -> DecoderMemory:
        """Bundle the memory ``(B, S, D)`` and mask ``(B, S)`` with its key projection."""
        if memory.dim() != 3:
            raise ValueError(f"memory must be (B, S, D), got shape {tuple(memory.shape)}")
        return DecoderMemory(memory, memory_mask, self.attention.project_keys(memory))

    def initial_state(self, memory: DecoderMemory) -> DecoderState:
        """``(h_0, c_0)``, each ``(B, H)``, from the mean of the valid memory positions."""
        features = memory.memory
        if self.init_h is None or self.init_c is None:
            zeros = features.new_zeros(features.size(0), self.hidden_size)
            return zeros, zeros
        if memory.mask is None:
            mean = features.mean(dim=1)
        else:
            valid = memory.mask.unsqueeze(-1).to(features.dtype)
            mean = (features * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1.0)
        return torch.tanh(self.init_h(mean)), self.init_c(mean)

    def step(
        self, tokens: Tensor, state: DecoderState, memory: DecoderMemory
    ) -> tuple[Tensor, DecoderState, Tensor]:
        """One decoding step.

        Args:
            tokens: ``(B,)`` previous tokens ``y_{t-1}``.
            state: ``(h_{t-1}, c_{t-1})``, each ``(B, H)``.
            memory: from :meth:`prepare`.

        Returns:
            ``(logits (B, V), (h_t, c_t), alpha_t (B, S))``.
        """
        h, c = state
        context, weights = self.attention(h, memory.memory, memory.mask, memory.projected)
        if self.gate is not None:
            context = torch.sigmoid(self.gate(h)) * context  # beta_t * z_t
        embedded = self.embedding(tokens)
        h, c = self.cell(torch.cat([embedded, context], dim=-1), (h, c))
        if self.deep_hidden is None or self.deep_context is None:
            logits = self.output(self.dropout(h))
        else:
            # L_o(E y_{t-1} + L_h h_t + L_z z_t)
            deep = embedded + self.deep_hidden(h) + self.deep_context(context)
            logits = self.output(self.dropout(deep))
        return logits, (h, c), weights

    def forward(
        self,
        memory: Tensor,
        memory_mask: Tensor | None,
        targets: Tensor,
        bos: int,
        sampling_probability: float = 0.0,
    ) -> tuple[Tensor, Tensor]:
        """Teacher forcing: predict ``targets[:, t]`` from ``bos, targets[:, :t]``.

        Args:
            memory: ``(B, S, D)`` encoder outputs.
            memory_mask: ``(B, S)`` bool, True for valid positions, or None.
            targets: ``(B, L)`` gold tokens without BOS (padding must be a valid id; mask
                it in the loss).
            bos: begin-of-sequence token id, the first input.
            sampling_probability: scheduled sampling (Bengio et al. 2015): each input after
                the first is, with this probability, a token sampled from the model's
                previous prediction instead of the gold one.

        Returns:
            ``(logits (B, L, V), weights (B, L, S))``.
        """
        prepared = self.prepare(memory, memory_mask)
        state = self.initial_state(prepared)
        tokens = targets.new_full((targets.size(0),), bos)
        all_logits, all_weights = [], []
        for t in range(targets.size(1)):
            logits, state, weights = self.step(tokens, state, prepared)
            all_logits.append(logits)
            all_weights.append(weights)
            tokens = targets[:, t]
            if sampling_probability > 0.0:
                sampled = torch.multinomial(F.softmax(logits.detach(), dim=-1), 1).squeeze(1)
                use_sample = torch.rand(tokens.shape, device=tokens.device) < sampling_probability
                tokens = torch.where(use_sample, sampled, tokens)
        return torch.stack(all_logits, dim=1), torch.stack(all_weights, dim=1)

    def _log_prob_step(self, memory: DecoderMemory) -> StepFn:
        def step(tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState, Tensor]:
            logits, state, weights = self.step(tokens, state, memory)
            # Search scores sum log-probabilities over steps: at least float32 under autocast.
            dtype = torch.promote_types(logits.dtype, torch.float32)
            return F.log_softmax(logits, dim=-1, dtype=dtype), state, weights

        return step

    @torch.no_grad()
    def greedy(
        self, memory: Tensor, memory_mask: Tensor | None, bos: int, eos: int, max_len: int
    ) -> list[Hypothesis]:
        """Greedy decoding of each of the ``B`` memories ``(B, S, D)``.

        Returns:
            One :class:`~lstmkit.beam_search.Hypothesis` per batch item: tokens without BOS
            and EOS, summed log-probability (EOS included), and ``extras`` = the attention
            weights ``(L, S)`` used to emit each token.
        """
        prepared = self.prepare(memory, memory_mask)
        return greedy_search(
            self._log_prob_step(prepared),
            self.initial_state(prepared),
            batch_size=memory.size(0),
            bos=bos,
            eos=eos,
            max_len=max_len,
            device=memory.device,
        )

    @torch.no_grad()
    def beam_search(
        self,
        memory: Tensor,
        memory_mask: Tensor | None,
        bos: int,
        eos: int,
        beam_size: int = 3,
        max_len: int = 50,
        length_penalty: float = 0.0,
        no_repeat_ngram_size: int = 0,
        n_best: int = 1,
    ) -> list[list[Hypothesis]]:
        """Batched beam search (see :func:`lstmkit.beam_search.beam_search`).

        Returns:
            For each batch item, its ``n_best`` hypotheses, best first; ``extras`` holds the
            attention weights ``(L, S)`` used to emit each token.
        """
        prepared = self.prepare(memory, memory_mask)
        return beam_search(
            self._log_prob_step(prepared.repeat_interleave(beam_size)),
            self.initial_state(prepared),
            batch_size=memory.size(0),
            bos=bos,
            eos=eos,
            beam_size=beam_size,
            max_len=max_len,
            length_penalty=length_penalty,
            no_repeat_ngram_size=no_repeat_ngram_size,
            n_best=n_best,
            device=memory.device,
        )
