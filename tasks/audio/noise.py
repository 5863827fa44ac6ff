"""Additive noise at a chosen signal-to-noise ratio: white, coloured (pink, brown) and babble.

All randomness comes from the ``numpy.random.Generator`` passed in, so a corpus generator
that seeds one generator per utterance gets the same noise on every run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Spectral slope of each colour: power spectral density ~ 1 / f^exponent.
NOISE_EXPONENTS = {"white": 0.0, "pink": 1.0, "brown": 2.0}
NOISE_KINDS = (*NOISE_EXPONENTS, "babble")


def coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of ``n`` samples with power spectral density ``~ 1 / f^exponent``.

    White noise is shaped in the frequency domain: ``X(f) * f^(-exponent / 2)`` (the DC bin
    is zeroed), cut to ``n`` samples and scaled to unit power.
    """
    if exponent == 0.0:
        return rng.standard_normal(n)
    # shaped on a power-of-two length: FFTs of lengths with large prime factors are slow
    size = 1 << max(n - 1, 1).bit_length()
    spectrum = np.fft.rfft(rng.standard_normal(size))
    freqs = np.fft.rfftfreq(size)
    scale = np.zeros_like(freqs)
    scale[1:] = freqs[1:] ** (-exponent / 2)
    shaped = np.fft.irfft(spectrum * scale, size)[:n]
    return shaped / (np.sqrt(np.mean(shaped**2)) + 1e-12)


def babble_noise(
    n: int, sources: Sequence[np.ndarray], n_talkers: int, rng: np.random.Generator
) -> np.ndarray:
    """Sum of ``n_talkers`` other utterances, each tiled to ``n`` samples from a random offset."""
    if not sources:
        raise ValueError("babble noise needs at least one source utterance")
    mix = np.zeros(n)
    for idx in rng.choice(len(sources), size=n_talkers, replace=len(sources) < n_talkers):
        source = sources[idx]
        tiled = np.resize(source, len(source) * (n // len(source) + 2))
        start = int(rng.integers(len(source)))
        mix += tiled[start : start + n] / (np.sqrt(np.mean(source**2)) + 1e-12)
    return mix


def add_noise(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``clean + g * noise`` with ``g`` chosen so that ``10 log10(P_clean / P_noise) = snr_db``.

    ``P`` is the mean power; ``g = sqrt(P_clean / (P_noise * 10^(snr_db / 10)))``.
    """
    p_clean = np.mean(clean.astype(np.float64) ** 2)
    p_noise = np.mean(noise.astype(np.float64) ** 2)
    if p_clean == 0 or p_noise == 0:
        return clean.copy()
    gain = np.sqrt(p_clean / (p_noise * 10 ** (snr_db / 10)))
    return (clean + gain * noise).astype(clean.dtype)


def make_noise(
    kind: str,
    n: int,
    rng: np.random.Generator,
    babble_sources: Sequence[np.ndarray] = (),
    babble_talkers: int = 3,
) -> np.ndarray:
    """Noise of ``kind`` (one of ``NOISE_KINDS``), ``n`` samples."""
    if kind == "babble":
        return babble_noise(n, babble_sources, babble_talkers, rng)
    if kind not in NOISE_EXPONENTS:
        raise ValueError(f"unknown noise kind {kind!r}; choose one of {NOISE_KINDS}")
    return coloured_noise(n, NOISE_EXPONENTS[kind], rng)
