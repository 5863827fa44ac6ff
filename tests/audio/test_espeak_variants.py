import numpy as np
import pytest

from tasks.audio.espeak import EspeakSynthesizer
from tasks.audio.espeak_variants import (
    add_variants,
    derived_variants,
    variant_overlay,
    whispered_variant,
)

TEXT = "the quick brown fox jumps over the lazy dog"


def periodicity(wave: np.ndarray, frame: int = 800) -> float:
    """Mean peak of the normalised autocorrelation at pitch lags (2-14 ms at 22.05 kHz) over
    the loud frames: near 1 for voiced speech, low for breath noise."""
    x = wave.astype(np.float64)
    peaks = []
    for start in range(0, len(x) - frame, frame // 2):
        f = x[start : start + frame] - x[start : start + frame].mean()
        if (f**2).mean() < 1e4:
            continue
        ac = np.correlate(f, f, "full")[frame - 1 :]
        peaks.append((ac[50:300] / ac[0]).max())
    return float(np.mean(peaks))


def test_whispered_variant_keeps_the_base_formants_with_whisper_phonation() -> None:
    text = whispered_variant("f1").splitlines()
    assert text[0] == "name f1-whisper"
    assert "formant 1 120  80 180" in text  # f1's vocal tract
    assert text[-3:] == [
        "voicing 17",
        "breath   75  75  50  40  15  10",
        "breathw 150 150 200 200 400 400",
    ]
    assert "formant 0 115 0 150" in text  # the voicing bar silenced, after f1's own line


def test_whispered_voices_are_breath_noise_and_deterministic() -> None:
    synth = EspeakSynthesizer(derived_variants(["f1"]))
    voiced = synth.synthesize(TEXT, voice="en-us+f1")
    whispered = synth.synthesize(TEXT, voice="en-us+f1-whisper")
    assert periodicity(voiced) > 0.5 > 0.35 > periodicity(whispered)
    assert np.array_equal(whispered, synth.synthesize(TEXT, voice="en-us+f1-whisper"))
    # the library keeps running on the same data folder: a synthesiser created later in
    # the process, with no variants of its own, still finds the whispered one
    assert np.array_equal(EspeakSynthesizer().synthesize(TEXT, voice="en-us+f1-whisper"), whispered)


def test_overlay_links_the_installed_data_and_takes_new_variants(tmp_path) -> None:
    overlay = variant_overlay(tmp_path)
    assert variant_overlay(tmp_path) == overlay  # built once, then reused
    assert (overlay / "voices" / "!v" / "m1").is_symlink() and (overlay / "phontab").is_symlink()
    add_variants(overlay, {"soft": "name soft\nvoicing 60"})
    add_variants(overlay, {"soft": "name soft\nvoicing 60"})  # the same text again: fine
    assert (overlay / "voices" / "!v" / "soft").read_text() == "name soft\nvoicing 60\n"
    with pytest.raises(ValueError, match="variant 'soft' is already defined differently"):
        add_variants(overlay, {"soft": "name soft\nvoicing 30"})
    with pytest.raises(ValueError, match=r"variant name '\.\./x'"):
        add_variants(overlay, {"../x": "voicing 60"})
    with pytest.raises(ValueError, match="variant name 'm1'"):
        add_variants(overlay, {"m1": "voicing 60"})  # an installed variant keeps its meaning
    with pytest.raises(ValueError, match="unknown espeak-ng variant 'nobody'"):
        whispered_variant("nobody")
