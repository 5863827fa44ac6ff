"""Spoken-LID front-end: log-mel features (from :mod:`tasks.audio.features`), then the shared
:class:`tasks.audio.frontend.AudioFrontEnd` (global or per-utterance CMVN, SpecAugment and
time subsampling by frame stacking or strided convolutions).

Log-mels are computed once per utterance (datamodule, predict) by :func:`utterance_features`;
the model's front-end (:func:`audio_frontend`) normalises, augments and subsamples them, so
the CMVN statistics travel with the weights.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from tasks.audio.features import LogMel, SpecAugment
from tasks.audio.frontend import AudioFrontEnd
from tasks.audio.subsampling import build_subsampling


@functools.lru_cache(maxsize=4)
def _log_mel(sample_rate: int, n_mels: int, n_fft: int, win_length: int, hop_length: int) -> LogMel:
    return LogMel(sample_rate, n_mels, n_fft, win_length, hop_length).eval()


def utterance_features(wave: Tensor, features: Mapping[str, Any]) -> Tensor:
    """Log-mel frames ``(T, F)`` of a mono waveform ``(S,)`` at ``features["sample_rate"]``,
    cut to the first ``features["max_seconds"]`` seconds."""
    max_samples = int(features["max_seconds"] * features["sample_rate"])
    log_mel = _log_mel(
        features["sample_rate"],
        features["n_mels"],
        features["n_fft"],
        features["win_length"],
        features["hop_length"],
    )
    with torch.no_grad():
        feats, _ = log_mel(wave[:max_samples].unsqueeze(0))
    return feats[0]


def audio_frontend(encoder: Mapping[str, Any], artifacts: Mapping[str, Any]) -> AudioFrontEnd:
    """The spoken identifier's front-end (:class:`tasks.audio.frontend.AudioFrontEnd`) from
    the encoder config and the data's artifacts: log-mels ``(B, T, F)`` -> CMVN, SpecAugment
    (training only), then time subsampling by ``subsampling_factor`` ``s`` (``T' = ceil(T /
    s)``), which cuts the recurrent steps, the cost that dominates. ``subsampling``: ``stack``
    (``s`` frames concatenated, ``D = s F``) or ``conv`` (stride-2 3x3 convolutions with
    ``conv_channels`` channels, ``D = C ceil(F / s)``)."""
    mean = torch.tensor(artifacts["cmvn"]["mean"])
    std = torch.tensor(artifacts["cmvn"]["std"])
    n_mels = mean.shape[0]
    return AudioFrontEnd(
        n_mels,
        mean,
        std,
        encoder["normalization"],
        SpecAugment(**dict(encoder["spec_augment"])),
        build_subsampling(
            encoder["subsampling"], n_mels, encoder["subsampling_factor"], encoder["conv_channels"]
        ),
    )


class WaveformLanguageIdentifier(nn.Module):
    """Waveforms ``(B, S)``, ``lengths (B,)`` in samples -> logits ``(B, n_labels)``: the
    log-mels of :func:`utterance_features` (each waveform framed at its own end) computed in
    the graph, then ``identifier`` (a :class:`tasks.langid.model.identifier.LanguageIdentifier` over
    log-mels). The exported spoken model; callers cut clips to ``max_seconds`` first.
    """

    def __init__(self, identifier: nn.Module, features: Mapping[str, Any]) -> None:
        super().__init__()
        self.log_mel = LogMel(
            features["sample_rate"],
            features["n_mels"],
            features["n_fft"],
            features["win_length"],
            features["hop_length"],
        )
        self.identifier = identifier

    def forward(self, waves: Tensor, lengths: Tensor) -> Tensor:
        feats, frames = self.log_mel(waves, lengths)
        return self.identifier(feats, frames)
