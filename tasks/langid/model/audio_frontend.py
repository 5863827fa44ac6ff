"""Spoken-LID front-end: log-mel features (from :mod:`tasks.audio.features`), global or
per-utterance CMVN, SpecAugment and time subsampling (frame stacking or strided convolutions,
from :mod:`tasks.speech.model`).

Log-mels are computed once per utterance (datamodule, predict) by :func:`utterance_features`;
the model's :class:`AudioFrontEnd` normalises, augments and subsamples them, so the CMVN
statistics travel with the weights.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from tasks.audio.features import CMVN, LogMel, SpecAugment
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


class AudioFrontEnd(nn.Module):
    """Log-mels ``(B, T, F)`` -> ``(B, T', D)``: CMVN, SpecAugment (training only), then time
    subsampling by ``subsampling_factor`` ``s`` (``T' = ceil(T / s)``), which cuts the
    recurrent steps, the cost that dominates.

    Args:
        mean, std: global CMVN statistics of the training set ``(F,)``.
        normalization: ``global`` (the training set's statistics) or ``utterance`` (each
            utterance's own), :class:`tasks.audio.features.CMVN`.
        spec_augment: :class:`tasks.audio.features.SpecAugment` options.
        subsampling: ``stack`` (``s`` frames concatenated, ``D = s F``) or ``conv`` (stride-2
            3x3 convolutions with ``conv_channels`` channels, ``D = C ceil(F / s)``).
    """

    def __init__(
        self,
        mean: Tensor,
        std: Tensor,
        normalization: str,
        spec_augment: Mapping[str, Any],
        subsampling: str,
        subsampling_factor: int,
        conv_channels: int,
    ) -> None:
        super().__init__()
        self.cmvn = CMVN(mean, std, mean.shape[0], normalization)
        self.specaugment = SpecAugment(**dict(spec_augment))
        self.subsampling = build_subsampling(
            subsampling, mean.shape[0], subsampling_factor, conv_channels
        )
        self.output_size = self.subsampling.output_size

    @classmethod
    def from_config(cls, encoder: Mapping[str, Any], artifacts: Mapping[str, Any]) -> AudioFrontEnd:
        return cls(
            torch.tensor(artifacts["cmvn"]["mean"]),
            torch.tensor(artifacts["cmvn"]["std"]),
            encoder["normalization"],
            encoder["spec_augment"],
            encoder["subsampling"],
            encoder["subsampling_factor"],
            encoder["conv_channels"],
        )

    def forward(self, feats: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        x = self.specaugment(self.cmvn(feats, lengths), lengths)
        return self.subsampling(x, lengths)


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
