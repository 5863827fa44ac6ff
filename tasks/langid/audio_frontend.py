"""Spoken-LID front-end: log-mel features (from :mod:`tasks.audio.features`), global CMVN,
SpecAugment and frame stacking.

Log-mels are computed once per utterance (datamodule, predict) by :func:`utterance_features`;
the model's :class:`AudioFrontEnd` normalises, augments and stacks them, so the CMVN
statistics travel with the weights.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from tasks.audio.features import GlobalCMVN, LogMel, SpecAugment


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
    """Log-mels ``(B, T, F)`` -> ``(B, ceil(T / k), k F)``: CMVN, SpecAugment (training only), then
    ``k`` consecutive frames stacked into one step (``k = stack_frames``), which cuts the
    recurrent steps ``k``-fold while keeping every frame's content."""

    def __init__(
        self, mean: Tensor, std: Tensor, stack_frames: int, specaugment: Mapping[str, Any]
    ) -> None:
        super().__init__()
        self.cmvn = GlobalCMVN(mean, std)
        self.specaugment = SpecAugment(**dict(specaugment))
        self.stack_frames = stack_frames
        self.output_size = stack_frames * mean.shape[0]

    @classmethod
    def from_config(cls, encoder: Mapping[str, Any], artifacts: Mapping[str, Any]) -> AudioFrontEnd:
        return cls(
            torch.tensor(artifacts["cmvn"]["mean"]),
            torch.tensor(artifacts["cmvn"]["std"]),
            encoder["stack_frames"],
            encoder["specaugment"],
        )

    def forward(self, feats: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        x = self.specaugment(self.cmvn(feats, lengths), lengths)
        k = self.stack_frames
        b, t, f = x.shape
        steps = -(-t // k)
        x = nn.functional.pad(x, (0, 0, 0, steps * k - t)).reshape(b, steps, k * f)
        return x, -torch.div(-lengths, k, rounding_mode="floor")
