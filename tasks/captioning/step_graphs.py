"""The captioner split for export: an image-encoder graph and a one-step decoder graph.

A caller runs :class:`EncoderGraph` once per image and then its own search loop (greedy or
beam, e.g. :func:`lstmkit.beam_search.beam_search`) over :class:`DecoderStepGraph`::

    memory, keys, h, c = encoder(images)                 (B, S, D), (B, S, A), (B, H), (B, H)
    y = <bos>;  repeat:  log_p, h, c, alpha = step(y, h, c, memory, keys);  y = choose(log_p)

For a beam of ``K``, repeat each row of ``memory`` and ``keys`` ``K`` times (one per beam) and
reorder ``h, c`` by the surviving beams after every step.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from lstmkit.decoder import DecoderMemory
from tasks.captioning.model.captioner import Captioner


class EncoderGraph(nn.Module):
    """``images (B, 3, H, W)`` in [0, 1] -> ``memory (B, S, D)``, the attention's projected
    keys ``(B, S, A)`` and the initial decoder state ``h0, c0 (B, H)``."""

    def __init__(self, captioner: Captioner) -> None:
        super().__init__()
        self.captioner = captioner

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        decoder = self.captioner.decoder
        prepared = decoder.prepare(self.captioner.encoder(images), None)
        h0, c0 = decoder.initial_state(prepared)
        return prepared.memory, prepared.projected, h0, c0


class DecoderStepGraph(nn.Module):
    """One attention-LSTM step (:meth:`lstmkit.decoder.AttentionLSTMDecoder.step`):
    ``tokens (B,)``, ``h, c (B, H)``, ``memory (B, S, D)``, ``keys (B, S, A)`` ->
    ``log_probs (B, V)`` (log-softmax of the logits), ``h, c`` and ``attention (B, S)``."""

    def __init__(self, captioner: Captioner) -> None:
        super().__init__()
        self.decoder = captioner.decoder

    def forward(
        self, tokens: Tensor, h: Tensor, c: Tensor, memory: Tensor, keys: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        logits, (h, c), weights = self.decoder.step(
            tokens, (h, c), DecoderMemory(memory, None, keys)
        )
        return F.log_softmax(logits, dim=-1), h, c, weights
