"""Audio decoding with ``soundfile``: paths, bytes or ``datasets`` audio records to mono float32.

Every failure raises :class:`AudioDecodeError` whose message names the file, says what is
wrong and how to fix it, so a caller can report it (predict) or skip and count the sample
(training) without a library traceback.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

AudioSource = str | Path | bytes | Mapping[str, object]


class AudioDecodeError(ValueError):
    """An audio input could not be used.

    Attributes:
        source: the file name (or ``"<bytes>"``) the error is about.
        reason: a short machine-readable cause: ``missing``, ``empty``, ``corrupt``,
            ``no_samples``, ``too_short``, ``not_finite``.
    """

    def __init__(self, source: str, reason: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.reason = reason


def _describe(source: AudioSource) -> str:
    if isinstance(source, Mapping):
        return str(source.get("path") or "<bytes>")
    if isinstance(source, bytes | bytearray):
        return "<bytes>"
    return str(source)


def _open(source: AudioSource, name: str) -> tuple[object, Path | None]:
    """A file-like or path soundfile can read; raises for missing or empty inputs."""
    if isinstance(source, Mapping):
        if source.get("bytes"):
            return io.BytesIO(source["bytes"]), None  # type: ignore[arg-type]
        if not source.get("path"):
            raise AudioDecodeError(name, "empty", "audio record has neither bytes nor a path")
        source = str(source["path"])
    if isinstance(source, bytes | bytearray):
        if not source:
            raise AudioDecodeError(name, "empty", "audio bytes are empty (0 bytes)")
        return io.BytesIO(source), None
    path = Path(source)
    if not path.is_file():
        raise AudioDecodeError(
            name, "missing", "audio file does not exist; check the path or the dataset folder"
        )
    if path.stat().st_size == 0:
        raise AudioDecodeError(name, "empty", "audio file is empty (0 bytes); re-create it")
    return path, path


def load_audio(
    source: AudioSource, sample_rate: int | None = None, min_duration: float = 0.0
) -> tuple[torch.Tensor, int]:
    """Decode ``source`` to a mono ``float32`` waveform in ``[-1, 1]``.

    Args:
        source: a file path, the file's bytes, or a ``datasets`` audio record
            ``{"path": ..., "bytes": ...}`` (as given by ``Audio(decode=False)``).
        sample_rate: resample to this rate when the file's rate differs; ``None`` keeps it.
        min_duration: seconds; shorter audio raises ``AudioDecodeError`` (reason ``too_short``).

    Returns:
        ``(waveform, rate)`` with waveform of shape ``(S,)``; multi-channel audio is mixed down
        by averaging the channels.
    """
    name = _describe(source)
    handle, _ = _open(source, name)
    try:
        data, rate = sf.read(handle, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise AudioDecodeError(
            name,
            "corrupt",
            f"not a readable audio file ({err}); convert it to WAV or FLAC "
            f"(formats: {', '.join(sorted(sf.available_formats()))})",
        ) from None
    if data.shape[0] == 0:
        raise AudioDecodeError(name, "no_samples", "audio file contains no samples")
    if not np.isfinite(data).all():
        raise AudioDecodeError(name, "not_finite", "audio contains NaN or infinite samples")
    wave = torch.from_numpy(data.mean(axis=1) if data.shape[1] > 1 else data[:, 0])
    if sample_rate is not None and rate != sample_rate:
        from tasks.audio.features import resample

        wave, rate = resample(wave, rate, sample_rate), sample_rate
    duration = wave.shape[0] / rate
    if duration < min_duration:
        raise AudioDecodeError(
            name,
            "too_short",
            f"audio is {duration:.3f} s long, shorter than the minimum {min_duration} s",
        )
    return wave.contiguous(), rate


def write_audio(path: str | Path, wave: torch.Tensor | np.ndarray, sample_rate: int) -> None:
    """Write a mono waveform ``(S,)`` in ``[-1, 1]`` as 16-bit PCM; the format follows the suffix."""
    data = wave.numpy() if isinstance(wave, torch.Tensor) else wave
    sf.write(str(path), np.clip(data, -1.0, 1.0), sample_rate, subtype="PCM_16")
