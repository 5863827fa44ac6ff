"""Acoustic front-end: resampling, log-mel filterbanks, global or per-utterance CMVN and
SpecAugment.

This is the only module of the suite that uses torchaudio; speech recognition and spoken
language identification both build their front-end from these modules.

Shapes: ``B`` batch, ``S`` samples, ``T`` frames, ``F`` mel bins.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torchaudio
from torch import Tensor, nn

from lstmkit.dispatch import is_exporting


@functools.lru_cache(maxsize=16)
def _resampler(orig_rate: int, new_rate: int) -> torchaudio.transforms.Resample:
    # The windowed-sinc kernel depends only on the two rates: build it once per pair.
    return torchaudio.transforms.Resample(orig_rate, new_rate)


def resample(wave: Tensor, orig_rate: int, new_rate: int) -> Tensor:
    """Band-limited (windowed sinc) resampling of ``(..., S)`` float audio to ``new_rate``."""
    if orig_rate == new_rate:
        return wave
    return _resampler(int(orig_rate), int(new_rate))(wave.float())


class LogMel(nn.Module):
    """Log-mel filterbank features.

    ``feats = log(max(MelFilterbank(|STFT(x)|^2), floor))`` with a Hann window of
    ``win_length`` samples every ``hop_length`` samples (centred frames, so a waveform of
    ``S`` samples gives ``T = 1 + S // hop_length`` frames).

    Args:
        sample_rate: rate of the input waveforms.
        n_mels: number of mel bins ``F``.
        n_fft: FFT size (>= ``win_length``).
        win_length: analysis window in samples (400 = 25 ms at 16 kHz).
        hop_length: frame shift in samples (160 = 10 ms at 16 kHz).
        f_min, f_max: filterbank frequency range in Hz (``f_max=None`` = Nyquist).
        dither: std of Gaussian noise added to the waveform in training mode only, so
            digital silence does not produce ``log(floor)`` everywhere.
        log_floor: lower clamp before the log.

    Shape:
        forward(waves ``(B, S)``, lengths ``(B,)``) -> feats ``(B, T, F)``, frame lengths ``(B,)``.
        Frames past a sequence's length are set to 0.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 80,
        n_fft: int = 400,
        win_length: int = 400,
        hop_length: int = 160,
        f_min: float = 0.0,
        f_max: float | None = None,
        dither: float = 0.0,
        log_floor: float = 1e-6,
    ) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.hop_length = hop_length
        self.dither = dither
        self.log_floor = log_floor
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=n_fft,
            win_length=win_length,
            hop_length=hop_length,
            f_min=f_min,
            f_max=f_max,
            n_mels=n_mels,
            power=2.0,
            center=True,
        )

        # The exportable formulation (see power_mel_by_conv): the windowed DFT as conv
        # kernels, cos rows then sin rows, (2 * n_freqs, 1, n_fft); derived, not saved.
        window = self.mel.spectrogram.window
        n_fft = self.mel.spectrogram.n_fft
        left = (n_fft - window.numel()) // 2
        window = nn.functional.pad(window, (left, n_fft - window.numel() - left))
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
        angle = 2 * math.pi * k * torch.arange(n_fft, dtype=torch.float64) / n_fft
        basis = torch.cat([angle.cos(), angle.sin()]) * window.double()
        self.register_buffer("dft_basis", basis.float()[:, None], persistent=False)

    def num_frames(self, lengths: Tensor) -> Tensor:
        """Number of valid frames for waveforms of ``lengths`` samples."""
        return lengths // self.hop_length + 1

    def forward(self, waves: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if lengths is None:
            lengths = torch.full((waves.shape[0],), waves.shape[-1], dtype=torch.long)
        if self.training and self.dither > 0:
            waves = waves + self.dither * torch.randn_like(waves)
        if is_exporting():
            power_mel = self.power_mel_by_conv(waves.float(), lengths)
        else:
            power_mel = self.mel(waves.float())
        feats = power_mel.clamp_min(self.log_floor).log().transpose(1, 2)
        frame_lengths = self.num_frames(lengths.to(feats.device))
        valid = torch.arange(feats.shape[1], device=feats.device) < frame_lengths[:, None]
        return feats * valid[..., None], frame_lengths

    def power_mel_by_conv(self, waves: Tensor, lengths: Tensor) -> Tensor:
        """The mel power spectrogram ``(B, F, T)`` of ``self.mel`` from plain tensor ops, so it
        exports to ONNX (whose STFT takes no complex output) and traces.

        Each waveform is reflect-padded by ``n_fft // 2`` at both of its own ends (index
        ``j`` of the padded signal reads ``|j - p|`` mirrored about ``L - 1``), so a padded
        batch gives every utterance the frames it gets alone. Then
        ``|X_k(t)|^2 = (sum_n w_n x_{tH+n} cos(2 pi k n / N))^2 + (... sin ...)^2``: one
        strided convolution with the cos and sin kernels, and the mel filterbank on top.
        """
        n_fft = self.dft_basis.shape[-1]
        pad = n_fft // 2
        position = torch.arange(waves.shape[1] + 2 * pad, device=waves.device) - pad
        last = (lengths.to(waves.device) - 1)[:, None]
        index = position.abs()[None, :]
        index = torch.where(index > last, 2 * last - index, index)
        index = index.clamp(0, waves.shape[1] - 1)
        frames = nn.functional.conv1d(
            waves.gather(1, index)[:, None], self.dft_basis, stride=self.hop_length
        )
        real, imag = frames.chunk(2, dim=1)
        power = real * real + imag * imag  # (B, n_freqs, T)
        return torch.matmul(power.transpose(1, 2), self.mel.mel_scale.fb).transpose(1, 2)


def cmvn_stats(features: Iterable[Tensor], chunk_frames: int = 65536) -> tuple[Tensor, Tensor]:
    """Per-bin mean and standard deviation over all frames of ``features`` (each ``(T, F)``).

    Accumulated in float64 over chunks of about ``chunk_frames`` frames:
    ``mean = sum(x) / N``, ``std = sqrt(sum(x^2) / N - mean^2)``.
    """
    total = sq_total = None
    n = 0
    pending: list[Tensor] = []
    pending_frames = 0

    def flush() -> None:
        nonlocal total, sq_total, n, pending_frames
        x = torch.cat(pending).double()
        s, sq = x.sum(0), (x * x).sum(0)
        total = s if total is None else total + s
        sq_total = sq if sq_total is None else sq_total + sq
        n += x.shape[0]
        pending.clear()
        pending_frames = 0

    for feats in features:
        pending.append(feats)
        pending_frames += feats.shape[0]
        if pending_frames >= chunk_frames:
            flush()
    if pending:
        flush()
    if total is None or n == 0:
        raise ValueError("cmvn_stats needs at least one frame of features")
    mean = total / n
    std = (sq_total / n - mean * mean).clamp_min(1e-10).sqrt()
    return mean.float(), std.float()


class GlobalCMVN(nn.Module):
    """Global cepstral mean and variance normalisation: ``(x - mean) / max(std, floor)``.

    The statistics are buffers, computed once on the training set (:func:`cmvn_stats`) and
    saved with the model's state dict. Padding frames (past ``lengths``) stay 0.

    Shape: forward(feats ``(B, T, F)``, lengths ``(B,)`` optional) -> ``(B, T, F)``.
    """

    def __init__(
        self, mean: Tensor | None = None, std: Tensor | None = None, n_features: int = 80
    ) -> None:
        super().__init__()
        if mean is None:
            mean = torch.zeros(n_features)
        if std is None:
            std = torch.ones_like(torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).clone())
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).clone())

    def forward(self, feats: Tensor, lengths: Tensor | None = None) -> Tensor:
        out = (feats - self.mean) / self.std.clamp_min(1e-5)
        if lengths is not None:
            valid = torch.arange(feats.shape[1], device=feats.device) < lengths[:, None]
            out = out * valid[..., None]
        return out


class UtteranceCMVN(nn.Module):
    """Per-utterance mean and variance normalisation over each sequence's valid frames:

    ``y_t = (x_t - mu) / max(sigma, floor)`` with ``mu = (1/L) sum_{t<L} x_t`` and
    ``sigma^2 = (1/L) sum_{t<L} (x_t - mu)^2`` per mel bin, ``L`` the sequence's length.

    A recording's level and channel add a constant to every log-mel frame, so subtracting
    the utterance's own mean removes them, which a global mean computed over the training
    voices and levels cannot. Padding frames stay 0.

    Shape: forward(feats ``(B, T, F)``, lengths ``(B,)``) -> ``(B, T, F)``.
    """

    def __init__(self, floor: float = 1e-3) -> None:
        super().__init__()
        self.floor = floor

    def forward(self, feats: Tensor, lengths: Tensor) -> Tensor:
        valid = (torch.arange(feats.shape[1], device=feats.device) < lengths[:, None])[..., None]
        count = lengths.clamp_min(1).to(feats.dtype)[:, None, None]
        mean = (feats * valid).sum(1, keepdim=True) / count
        centred = (feats - mean) * valid
        std = ((centred * centred).sum(1, keepdim=True) / count).sqrt()
        return centred / std.clamp_min(self.floor)


NORMALIZATIONS = ("global", "utterance")


class CMVN(GlobalCMVN):
    """CMVN of either kind, chosen by ``normalization``: ``global`` (:class:`GlobalCMVN`, the
    training set's statistics; per frame, so it streams) or ``utterance``
    (:class:`UtteranceCMVN`, each utterance's own statistics; needs the whole utterance).

    The global statistics stay buffers in both modes, so checkpoints keep one layout.

    Shape: forward(feats ``(B, T, F)``, lengths ``(B,)``) -> ``(B, T, F)``.
    """

    def __init__(
        self,
        mean: Tensor | None = None,
        std: Tensor | None = None,
        n_features: int = 80,
        normalization: str = "global",
    ) -> None:
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"encoder.normalization must be one of {NORMALIZATIONS}, got {normalization!r}"
            )
        super().__init__(mean, std, n_features)
        self.normalization = normalization
        self.utterance = UtteranceCMVN() if normalization == "utterance" else None

    def forward(self, feats: Tensor, lengths: Tensor | None = None) -> Tensor:
        if self.utterance is not None:
            return self.utterance(feats, lengths)
        return super().forward(feats, lengths)


@dataclass
class SpecAugmentConfig:
    """The options of :class:`SpecAugment` that task configs set (``spec_augment:``)."""

    freq_masks: int
    freq_width: int
    time_masks: int
    time_width: int
    time_ratio: float
    time_warp: int


class SpecAugment(nn.Module):
    """SpecAugment (Park et al. 2019): time warping, frequency masks and time masks.

    Active only in training mode. Each sequence gets its own masks, drawn inside its valid
    length: ``freq_masks`` bands of width ``f ~ U[0, freq_width]`` and ``time_masks`` spans of
    width ``t ~ U[0, min(time_width, time_ratio * length)]`` are set to ``mask_value``
    (0 = the mean after CMVN). Time warping (off by default, ``time_warp=0``) moves a random
    centre frame ``c`` by ``w ~ U[-W, W]`` frames, stretching ``[0, c)`` onto ``[0, c + w)``
    and ``[c, length)`` onto ``[c + w, length)`` by linear interpolation.

    Shape: forward(feats ``(B, T, F)``, lengths ``(B,)``) -> ``(B, T, F)``.
    """

    def __init__(
        self,
        freq_masks: int = 2,
        freq_width: int = 27,
        time_masks: int = 2,
        time_width: int = 40,
        time_ratio: float = 0.2,
        time_warp: int = 0,
        mask_value: float = 0.0,
    ) -> None:
        super().__init__()
        self.freq_masks = freq_masks
        self.freq_width = freq_width
        self.time_masks = time_masks
        self.time_width = time_width
        self.time_ratio = time_ratio
        self.time_warp = time_warp
        self.mask_value = mask_value

    def forward(self, feats: Tensor, lengths: Tensor | None = None) -> Tensor:
        if not self.training:
            return feats
        b, t, f = feats.shape
        if lengths is None:
            lengths = torch.full((b,), t, dtype=torch.long, device=feats.device)
        if self.time_warp > 0:
            feats = self._warp(feats, lengths)
        keep = torch.ones(b, t, f, dtype=torch.bool, device=feats.device)
        frames = torch.arange(t, device=feats.device)
        bins = torch.arange(f, device=feats.device)
        for _ in range(self.freq_masks):
            width = (torch.rand(b, device=feats.device) * (self.freq_width + 1)).long()
            start = (torch.rand(b, device=feats.device) * (f - width + 1)).long()
            band = (bins >= start[:, None]) & (bins < (start + width)[:, None])
            keep &= ~band[:, None, :]
        max_width = torch.clamp((lengths.float() * self.time_ratio).long(), max=self.time_width).to(
            feats.device
        )
        for _ in range(self.time_masks):
            width = (torch.rand(b, device=feats.device) * (max_width + 1)).long()
            start = (
                torch.rand(b, device=feats.device) * (lengths.to(feats.device) - width + 1)
            ).long()
            span = (frames >= start[:, None]) & (frames < (start + width)[:, None])
            keep &= ~span[:, :, None]
        return feats.masked_fill(~keep, self.mask_value)

    def _warp(self, feats: Tensor, lengths: Tensor) -> Tensor:
        out = feats.clone()
        for i, length in enumerate(lengths.tolist()):
            w_max = min(self.time_warp, length // 2 - 1)
            if w_max < 1:
                continue
            centre = int(torch.randint(w_max, length - w_max, ()))
            shift = int(torch.randint(-w_max, w_max + 1, ()))
            x = feats[i, :length].T[None]  # (1, F, length)
            left = nn.functional.interpolate(x[..., :centre], size=centre + shift, mode="linear")
            right = nn.functional.interpolate(
                x[..., centre:], size=length - centre - shift, mode="linear"
            )
            out[i, :length] = torch.cat([left, right], dim=-1)[0].T
        return out
