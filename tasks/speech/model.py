"""CTC acoustic model: time subsampling, lstmkit LSTM encoder, character CTC head.

The recogniser reads waveforms and returns per-frame log-probabilities over the character
vocabulary, blank at index 0::

    waves (B, S) -> log-mel, CMVN, SpecAugment (B, T, F) -> subsampling (B, T/s, F')
                 -> encoder (B, T/s, D*H) -> head: log_softmax(W h_t + b)  (B, T/s, V)

Encoder shapes (``conf/encoder/*.yaml``):

- ``blstm``: BiLSTM layers over 2x stacked frames.
- ``conv_blstm``: two stride-2 3x3 convolutions (4x fewer frames) then BiLSTM layers.
- ``pblstm``: pyramidal BiLSTM (Chan et al. 2016): between the chosen layers, each pair of
  adjacent frames is concatenated, halving the frame rate, ``(B, T, H) -> (B, T/2, 2H)``.
- ``uni_lstm``: unidirectional LSTM over 4x stacked frames; every stage is causal and
  chunk-aligned, so :mod:`tasks.speech.streaming` can feed audio in pieces.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from lstmkit import LSTM
from tasks.audio.features import LogMel, SpecAugment
from tasks.audio.frontend import AudioFrontEnd
from tasks.audio.subsampling import build_subsampling, stack_frames

State = list[tuple[Tensor, Tensor]]


class LSTMEncoder(nn.Module):
    """Stacked lstmkit LSTM layers, optionally pyramidal.

    Layers are grouped into blocks separated by the pyramid reductions; each block is one
    :class:`lstmkit.LSTM` run with ``lengths=`` so padding never leaks into the states.

    Args:
        input_size: features of the input frames.
        hidden_size: ``H`` per direction.
        num_layers: total LSTM layers.
        bidirectional: ``D = 2`` when true.
        pyramid_after: 1-based layer indices after which adjacent frame pairs are
            concatenated (``(B, T, D*H) -> (B, ceil(T/2), 2*D*H)``).
        dropout: dropout between layers.
        lstm_options: keyword-only lstmkit variants (``layer_norm``, ``zoneout``, ...).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool = True,
        pyramid_after: Sequence[int] = (),
        dropout: float = 0.0,
        lstm_options: dict | None = None,
    ) -> None:
        super().__init__()
        cuts = sorted(set(pyramid_after))
        if any(not 1 <= c < num_layers for c in cuts):
            raise ValueError(f"pyramid_after {list(cuts)} must lie in [1, {num_layers - 1}]")
        bounds = [0, *cuts, num_layers]
        self.blocks = nn.ModuleList()
        self.dropout = nn.Dropout(dropout)
        directions = 2 if bidirectional else 1
        size = input_size
        for start, end in itertools.pairwise(bounds):
            if start > 0:
                size = 2 * directions * hidden_size
            self.blocks.append(
                LSTM(
                    size,
                    hidden_size,
                    num_layers=end - start,
                    batch_first=True,
                    dropout=dropout if end - start > 1 else 0.0,
                    bidirectional=bidirectional,
                    **(lstm_options or {}),
                )
            )
        self.output_size = directions * hidden_size
        self.bidirectional = bidirectional

    @property
    def reduction(self) -> int:
        return 2 ** (len(self.blocks) - 1)

    def forward(
        self, x: Tensor, lengths: Tensor, state: State | None = None
    ) -> tuple[Tensor, Tensor, State]:
        """``x (B, T, I)``, ``lengths (B,)`` -> ``(B, T', D*H)``, ``lengths'``, per-block states.

        ``state`` (one ``(h, c)`` per block) continues a previous call: streaming.
        """
        new_state: State = []
        for i, block in enumerate(self.blocks):
            if i > 0:
                x, lengths = stack_frames(self.dropout(x), lengths, 2)
            x, hc = block(x, None if state is None else state[i], lengths=lengths)
            new_state.append(hc)
        return x, lengths, new_state


def waveform_frontend(
    cmvn_mean: Tensor | None,
    cmvn_std: Tensor | None,
    normalization: str,
    log_mel: dict | None = None,
    spec_augment: dict | None = None,
) -> AudioFrontEnd:
    """The recogniser's front-end: waveforms -> :class:`LogMel` (``log_mel`` options, those
    the training data's features were computed with) -> CMVN -> :class:`SpecAugment`
    (``spec_augment`` options). Subsampling stays outside it: ``from_features`` runs it on
    normalised features, which streaming feeds chunk by chunk."""
    frames = LogMel(**(log_mel or {}))
    return AudioFrontEnd(
        frames.n_mels,
        cmvn_mean,
        cmvn_std,
        normalization,
        SpecAugment(**(spec_augment or {})),
        log_mel=frames,
    )


class SpeechRecognizer(nn.Module):
    """Front-end + subsampling + :class:`LSTMEncoder` + linear CTC head over ``V`` characters.

    Args:
        vocab_size: ``V`` outputs, blank at 0.
        cmvn_mean, cmvn_std: ``(F,)`` global feature statistics of the training set.
        features: :func:`waveform_frontend` options, ``{log_mel: {...}, spec_augment: {...}}``.
        normalization: ``global`` or ``utterance`` CMVN
            (:class:`tasks.audio.frontend.AudioFrontEnd`).
        subsampling: ``conv``, ``stack`` or ``none``.
        subsampling_factor: time reduction of the subsampling stage.
        conv_channels: channels of the conv subsampling.
        hidden_size, num_layers, bidirectional, pyramid_after, dropout, lstm_options:
            see :class:`LSTMEncoder`.
    """

    def __init__(
        self,
        vocab_size: int,
        cmvn_mean: Tensor | None = None,
        cmvn_std: Tensor | None = None,
        features: dict | None = None,
        normalization: str = "global",
        subsampling: str = "conv",
        subsampling_factor: int = 4,
        conv_channels: int = 32,
        hidden_size: int = 256,
        num_layers: int = 3,
        bidirectional: bool = True,
        pyramid_after: Sequence[int] = (),
        dropout: float = 0.1,
        lstm_options: dict | None = None,
    ) -> None:
        super().__init__()
        self.frontend = waveform_frontend(cmvn_mean, cmvn_std, normalization, **(features or {}))
        self.subsampling = build_subsampling(
            subsampling, self.frontend.n_mels, subsampling_factor, conv_channels
        )
        self.encoder = LSTMEncoder(
            self.subsampling.output_size,
            hidden_size,
            num_layers,
            bidirectional,
            pyramid_after,
            dropout,
            lstm_options,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.output_size, vocab_size)

    @property
    def frame_reduction(self) -> int:
        """Feature frames per output frame."""
        return self.subsampling.factor * self.encoder.reduction

    @property
    def output_frame_seconds(self) -> float:
        """Seconds per output (CTC) frame, e.g. 10 ms hop x 4 = 0.04."""
        log_mel = self.frontend.log_mel
        return log_mel.hop_length / log_mel.sample_rate * self.frame_reduction

    def forward(self, waves: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """``waves (B, S)``, ``lengths (B,)`` -> log-probs ``(B, T', V)``, ``lengths' (B,)``."""
        feats, frames = self.frontend(waves, lengths)
        log_probs, out_lengths, _ = self.from_features(feats, frames)
        return log_probs, out_lengths

    def from_features(
        self, features: Tensor, lengths: Tensor, state: State | None = None
    ) -> tuple[Tensor, Tensor, State]:
        """Normalised ``features (B, T, F)`` -> log-probs ``(B, T', V)``, ``lengths'``, encoder
        state (pass it back in to continue the sequence)."""
        x, lengths = self.subsampling(features, lengths)
        x, lengths, state = self.encoder(x, lengths, state)
        return F.log_softmax(self.head(self.dropout(x)), dim=-1), lengths, state
