from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tasks.audio.io import AudioDecodeError, load_audio, write_audio


def _tone(rate: int, seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_roundtrip_path_bytes_and_record(tmp_path: Path) -> None:
    path = tmp_path / "tone.flac"
    write_audio(path, _tone(16000, 0.5), 16000)
    from_path, rate = load_audio(path)
    assert rate == 16000 and from_path.shape == (8000,) and from_path.dtype == torch.float32
    from_bytes, _ = load_audio(path.read_bytes())
    from_record, _ = load_audio({"path": "x.flac", "bytes": path.read_bytes()})
    from_path_record, _ = load_audio({"path": str(path), "bytes": None})
    assert torch.equal(from_path, from_bytes)
    assert torch.equal(from_path, from_record) and torch.equal(from_path, from_path_record)
    assert (from_path - torch.from_numpy(_tone(16000, 0.5))).abs().max() < 1e-3


def test_stereo_is_mixed_down_and_rate_resampled(tmp_path: Path) -> None:
    left, right = _tone(44100, 1.0), np.zeros(44100, dtype=np.float32)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 44100)
    wave, rate = load_audio(path, sample_rate=16000)
    assert rate == 16000 and wave.shape == (16000,)
    # mean of the two channels: half the tone's amplitude, still a 440 Hz tone
    assert abs(wave.abs().max().item() - 0.25) < 0.01
    spectrum = np.abs(np.fft.rfft(wave.numpy()))
    assert abs(int(spectrum.argmax()) - 440) <= 1


def test_odd_rate_and_many_channels(tmp_path: Path) -> None:
    path = tmp_path / "odd.wav"
    sf.write(path, np.tile(_tone(11025, 0.4)[:, None], (1, 6)), 11025)
    wave, rate = load_audio(path, sample_rate=16000)
    assert rate == 16000 and abs(wave.shape[0] - 6400) <= 1


@pytest.mark.parametrize(
    ("make", "reason", "message"),
    [
        (lambda p: None, "missing", "does not exist"),
        (lambda p: p.write_bytes(b""), "empty", "empty"),
        (
            lambda p: p.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage"),
            "corrupt",
            "not a readable",
        ),
        (
            lambda p: p.write_text("this is a text file, not audio\n" * 20),
            "corrupt",
            "not a readable",
        ),
        (lambda p: sf.write(p, np.zeros((0, 1), np.float32), 16000), "no_samples", "no samples"),
        (lambda p: sf.write(p, _tone(16000, 0.01), 16000), "too_short", "shorter than"),
    ],
    ids=["missing", "empty", "corrupt", "non_audio", "no_samples", "too_short"],
)
def test_bad_audio_raises_clear_error_naming_the_file(tmp_path, make, reason, message) -> None:
    path = tmp_path / "bad_input.wav"
    make(path)
    with pytest.raises(AudioDecodeError, match=message) as info:
        load_audio(path, min_duration=0.1)
    assert info.value.reason == reason
    assert "bad_input.wav" in str(info.value)


def test_bad_bytes_record_names_its_path() -> None:
    with pytest.raises(AudioDecodeError, match=r"^clip_7\.flac: not a readable") as info:
        load_audio({"path": "clip_7.flac", "bytes": b"\x00\x01garbage"})
    assert info.value.reason == "corrupt"
