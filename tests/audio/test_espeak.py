import numpy as np
import pytest

from tasks.audio.espeak import EspeakError, EspeakSynthesizer, list_variants, list_voices

TEXT = "the quick brown fox jumps over the lazy dog"


@pytest.fixture(scope="module")
def synth() -> EspeakSynthesizer:
    return EspeakSynthesizer()


def test_synthesis_is_speech_of_plausible_duration(synth: EspeakSynthesizer) -> None:
    wave = synth.synthesize(TEXT, voice="en-us", rate=175)
    assert synth.sample_rate == 22050
    assert wave.dtype == np.int16
    seconds = len(wave) / synth.sample_rate
    # nine words at 175 words per minute is ~3 s; espeak adds short pauses at both ends
    assert 1.5 < seconds < 5.0
    assert np.abs(wave.astype(np.float32)).mean() > 200  # not silence


def test_rate_changes_duration(synth: EspeakSynthesizer) -> None:
    slow = synth.synthesize(TEXT, voice="en", rate=110)
    fast = synth.synthesize(TEXT, voice="en", rate=260)
    assert len(slow) > 1.6 * len(fast)


def test_voices_and_variants_differ_and_repeat_exactly(synth: EspeakSynthesizer) -> None:
    a = synth.synthesize(TEXT, voice="en+m1")
    b = synth.synthesize(TEXT, voice="en+f3")
    c = synth.synthesize(TEXT, voice="en-gb-scotland+m1")
    assert not np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(a, synth.synthesize(TEXT, voice="en+m1"))  # deterministic


def test_pitch_changes_audio(synth: EspeakSynthesizer) -> None:
    low = synth.synthesize(TEXT, voice="en", pitch=10)
    high = synth.synthesize(TEXT, voice="en", pitch=90)
    assert not np.array_equal(low, high)


def test_unknown_voice_is_a_clear_error(synth: EspeakSynthesizer) -> None:
    with pytest.raises(EspeakError, match="unknown espeak-ng voice 'zz-nowhere'"):
        synth.synthesize("hello", voice="zz-nowhere")


def test_voice_and_variant_listing() -> None:
    languages = {lang for v in list_voices() for lang in v.languages}
    assert {"en-us", "fr", "de"} <= languages
    assert {"m1", "f3", "croak", "whisper"} <= set(list_variants())


def test_output_does_not_depend_on_call_history(synth: EspeakSynthesizer) -> None:
    # voices with breath noise, echo, spectral tone shaping and the Klatt generator keep
    # state between calls inside libespeak-ng; the synthesiser resets it
    voices = ["en+f5", "en-us+steph", "en-gb-scotland+whisper", "en+klatt", "en-us+klatt3"]
    first = {v: synth.synthesize(TEXT, voice=v, rate=160, pitch=40) for v in voices}
    for i, voice in enumerate(voices):
        synth.synthesize("a different sentence first", voice=voices[i - 1], rate=200, pitch=70)
        assert np.array_equal(first[voice], synth.synthesize(TEXT, voice=voice, rate=160, pitch=40))


def test_klatt_voices_survive_state_resets(synth: EspeakSynthesizer) -> None:
    # restoring generator structures that hold pointers once crashed in this sequence
    synth.synthesize("reverting is not possible because you have unmerged files", "en-us+croak")
    synth.synthesize("c number compiler not found try installing mono", "en+klatt")
    wave = synth.synthesize("manually selected location of appstream cache", "en-us+klatt3")
    assert np.abs(wave.astype(np.float32)).mean() > 100
