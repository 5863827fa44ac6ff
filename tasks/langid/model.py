"""Language identifier: front-end -> lstmkit BiLSTM -> pooling -> linear classifier.

Written input uses :class:`TextFrontEnd` (symbol embedding), spoken input the log-mel
front-end of :mod:`tasks.langid.audio_frontend`; the encoder, pooling and classifier are
shared, so both modalities are one model family chosen by ``encoder=``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from lstmkit import LSTM
from tasks.langid.pooling import build_pooling


class TextFrontEnd(nn.Module):
    """Symbol ids ``(B, T)`` -> embeddings ``(B, T, E)``; id 0 is padding."""

    def __init__(self, vocab_size: int, embedding_dim: int, dropout: float) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.output_size = embedding_dim

    def forward(self, ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        return self.dropout(self.embedding(ids)), lengths


class BiLSTMEncoder(nn.Module):
    """Stacked bidirectional :class:`lstmkit.LSTM` over padded batches.

    Returns the states ``(B, T, 2H)`` and the final state ``(B, 2H)``: the forward
    direction's ``h`` at each sequence's true end concatenated with the backward
    direction's ``h`` at step 0 (``h_n`` of the last layer, as ``lengths`` makes lstmkit
    start the backward pass at the true end).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        variants: Mapping[str, Any],
    ) -> None:
        super().__init__()
        self.lstm = LSTM(
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
            **dict(variants),
        )
        self.output_size = 2 * hidden_size

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        states, (h_n, _) = self.lstm(x, lengths=lengths)
        final = torch.cat([h_n[-2], h_n[-1]], dim=-1)
        return states, final


class LanguageIdentifier(nn.Module):
    """``logits = W pool(BiLSTM(frontend(x))) + b``, shape ``(B, n_labels)``.

    Args:
        frontend: maps ``(inputs, lengths)`` to ``(features (B, T', F), lengths (B,))``.
        hidden_size, num_layers, dropout, variants: the BiLSTM (``variants`` are lstmkit's
            keyword-only options such as ``layer_norm``).
        pooling: ``attention`` | ``mean`` | ``last``; ``attention_dim`` sizes the attention.
        classifier_dropout: dropout on the pooled vector.
        n_labels: number of languages (rows of ``head``).
    """

    def __init__(
        self,
        frontend: nn.Module,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        variants: Mapping[str, Any],
        pooling: str,
        attention_dim: int,
        classifier_dropout: float,
        n_labels: int,
    ) -> None:
        super().__init__()
        self.frontend = frontend
        self.encoder = BiLSTMEncoder(
            frontend.output_size, hidden_size, num_layers, dropout, variants
        )
        self.pooling = build_pooling(pooling, self.encoder.output_size, attention_dim)
        self.dropout = nn.Dropout(classifier_dropout)
        self.head = nn.Linear(self.encoder.output_size, n_labels)

    def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        features, lengths = self.frontend(inputs, lengths)
        states, final = self.encoder(features, lengths)
        mask = torch.arange(states.shape[1], device=states.device) < lengths.unsqueeze(1)
        return self.head(self.dropout(self.pooling(states, mask, final)))
