"""Show, Attend and Tell captioner: CNN feature grid -> lstmkit attention-LSTM decoder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lstmkit.decoder import AttentionLSTMDecoder, doubly_stochastic_penalty
from tasks.captioning.model.encoders import ImageEncoder
from tasks.captioning.tokenization import BOS, EOS, PAD


@dataclass
class Caption:
    """One decoded caption: token ids (no BOS/EOS), log-probability, attention (L, S)."""

    tokens: list[int]
    score: float
    attention: torch.Tensor | None


class Captioner(nn.Module):
    """Image encoder + attention-LSTM decoder.

    Args:
        vocab_size: number of caption tokens ``V`` (specials included).
        encoder: keyword arguments of :class:`~tasks.captioning.model.encoders.ImageEncoder`.
        decoder: keyword arguments of :class:`lstmkit.decoder.AttentionLSTMDecoder`
            (``vocab_size`` and ``memory_size`` are filled in).
    """

    def __init__(
        self, vocab_size: int, encoder: Mapping[str, Any], decoder: Mapping[str, Any]
    ) -> None:
        super().__init__()
        self.encoder = ImageEncoder(**encoder)
        self.decoder = AttentionLSTMDecoder(
            vocab_size=vocab_size, memory_size=self.encoder.out_dim, padding_idx=PAD, **decoder
        )

    def forward(
        self, images: torch.Tensor, tokens: torch.Tensor, sampling_probability: float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing on ``tokens`` (B, L) = ``<bos> w_1 .. w_n <eos> <pad>..``.

        Returns:
            logits (B, L-1, V) predicting ``tokens[:, 1:]`` and attention weights (B, L-1, S).
        """
        memory = self.encoder(images)
        return self.decoder(
            memory, None, tokens[:, 1:], bos=BOS, sampling_probability=sampling_probability
        )

    def loss(
        self,
        images: torch.Tensor,
        tokens: torch.Tensor,
        attention_weight: float,
        sampling_probability: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(total, cross-entropy): ``CE + lambda * sum_s (1 - sum_t alpha_ts)^2`` (Xu et al. eq. 14)."""
        logits, weights = self(images, tokens, sampling_probability)
        targets = tokens[:, 1:]
        ce = F.cross_entropy(
            logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=PAD
        )
        penalty = doubly_stochastic_penalty(weights, None, targets != PAD, attention_weight)
        return ce + penalty, ce

    @torch.no_grad()
    def caption(
        self,
        images: torch.Tensor,
        *,
        search: str,
        beam_size: int,
        max_len: int,
        length_penalty: float,
        no_repeat_ngram_size: int,
    ) -> list[Caption]:
        """Caption each image of (B, 3, H, W) by ``search`` = ``"beam"`` or ``"greedy"``
        (the options of ``model.decoding``: :class:`tasks.captioning.config.DecodingConfig`;
        greedy search reads only ``max_len``)."""
        memory = self.encoder(images)
        if search == "greedy":
            hyps = self.decoder.greedy(memory, None, bos=BOS, eos=EOS, max_len=max_len)
        elif search == "beam":
            beams = self.decoder.beam_search(
                memory,
                None,
                bos=BOS,
                eos=EOS,
                beam_size=beam_size,
                max_len=max_len,
                length_penalty=length_penalty,
                no_repeat_ngram_size=no_repeat_ngram_size,
            )
            hyps = [b[0] for b in beams]
        else:
            raise ValueError(f"search must be 'beam' or 'greedy', got {search!r}")
        return [Caption(h.tokens.tolist(), h.log_prob, h.extras) for h in hyps]

    def grid_shape(self, image_size: int) -> tuple[int, int]:
        """(h, w) of the attention grid for ``image_size`` x ``image_size`` inputs."""
        probe = torch.zeros(1, 3, image_size, image_size, device=next(self.parameters()).device)
        was_training = self.encoder.training
        self.encoder.eval()
        with torch.no_grad():
            h, w = self.encoder.feature_map(probe).shape[-2:]
        self.encoder.train(was_training)
        return int(h), int(w)
