"""Language identifier: front-end -> lstmkit BiLSTM -> pooling -> linear classifier.

Written input uses :class:`TextFrontEnd` (symbol embedding), spoken input the log-mel
front-end of :mod:`tasks.langid.model.audio_frontend`; the encoder, pooling and classifier are
shared, so both modalities are one model family chosen by ``encoder=``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from lstmkit import LSTM
from tasks.langid.model.pooling import build_pooling


class TextFrontEnd(nn.Module):
    """Symbol ids ``(B, T)`` -> features ``(B, T', C)``; id 0 is padding.

    Embedding, then optionally a strided 1-D convolution over symbol n-grams:
    ``y_t = ReLU(sum_k W_k e_{s t + k - p} + b)`` with kernel ``k``, stride ``s`` and padding
    ``p = k // 2``, so ``T' = floor((T + 2p - k) / s) + 1``. The n-gram filters are what
    language ID feeds on, and the stride cuts the recurrent steps, the cost that dominates.
    ``conv_channels = 0`` keeps the embeddings (``T' = T``, ``C = E``).
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        dropout: float,
        conv_channels: int = 0,
        conv_kernel: int = 3,
        conv_stride: int = 1,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.conv = (
            nn.Conv1d(embedding_dim, conv_channels, conv_kernel, conv_stride, conv_kernel // 2)
            if conv_channels > 0
            else None
        )
        self.output_size = conv_channels if conv_channels > 0 else embedding_dim

    def forward(self, ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        x = self.dropout(self.embedding(ids))
        if self.conv is None:
            return x, lengths
        x = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        (kernel,), (stride,), (padding,) = (
            self.conv.kernel_size,
            self.conv.stride,
            self.conv.padding,
        )
        lengths = torch.div(lengths + 2 * padding - kernel, stride, rounding_mode="floor") + 1
        return x, lengths.clamp_min(1)


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
        lstm_options: Mapping[str, Any],
    ) -> None:
        super().__init__()
        self.lstm = LSTM(
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
            **dict(lstm_options),
        )
        self.output_size = 2 * hidden_size

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        # Equal lengths need no masking, and the padded fused kernel beats the packed one.
        equal = bool((lengths == x.shape[1]).all())
        states, (h_n, _) = self.lstm(x, lengths=None if equal else lengths)
        final = torch.cat([h_n[-2], h_n[-1]], dim=-1)
        return states, final


class LanguageIdentifier(nn.Module):
    """``logits = W [pool(BiLSTM(frontend(x))); bag(x)] + b``, shape ``(B, n_labels)``.

    Args:
        frontend: maps ``(inputs, lengths)`` to ``(features (B, T', F), lengths (B,))``.
        hidden_size, num_layers, dropout, lstm_options: the BiLSTM (``lstm_options`` are
            lstmkit's keyword-only options such as ``layer_norm``).
        pooling: ``attention`` | ``mean`` | ``stats`` | ``last``; ``attention_dim`` sizes the attention.
        classifier_dropout: dropout on the pooled vector.
        n_labels: number of languages (rows of ``head``).
        ngram_bag: optional module mapping the raw ``(inputs, lengths)`` to ``(B, D)``
            features concatenated to the pooled vector
            (:class:`tasks.langid.model.ngram_bag.HashedNgramBag`); ``None``: none.
    """

    def __init__(
        self,
        frontend: nn.Module,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        lstm_options: Mapping[str, Any],
        pooling: str,
        attention_dim: int,
        classifier_dropout: float,
        n_labels: int,
        ngram_bag: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.frontend = frontend
        self.encoder = BiLSTMEncoder(
            frontend.output_size, hidden_size, num_layers, dropout, lstm_options
        )
        self.pooling = build_pooling(pooling, self.encoder.output_size, attention_dim)
        self.dropout = nn.Dropout(classifier_dropout)
        self.ngram_bag = ngram_bag
        bag_size = ngram_bag.output_size if ngram_bag is not None else 0
        self.head = nn.Linear(self.pooling.output_size + bag_size, n_labels)

    def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        features, feature_lengths = self.frontend(inputs, lengths)
        states, final = self.encoder(features, feature_lengths)
        mask = torch.arange(states.shape[1], device=states.device) < feature_lengths.unsqueeze(1)
        pooled = self.pooling(states, mask, final)
        if self.ngram_bag is not None:
            pooled = torch.cat([pooled, self.ngram_bag(inputs, lengths)], dim=-1)
        return self.head(self.dropout(pooled))
