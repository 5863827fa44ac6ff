import numpy as np
import pytest

from tasks.audio.noise import add_noise, babble_noise, coloured_noise, make_noise


def _power(x: np.ndarray) -> float:
    return float(np.mean(x.astype(np.float64) ** 2))


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 25.0])
def test_add_noise_hits_the_requested_snr(snr_db: float) -> None:
    rng = np.random.default_rng(0)
    clean = np.sin(np.linspace(0, 400 * np.pi, 16000)).astype(np.float32)
    noise = rng.standard_normal(16000).astype(np.float32) * 7.0
    noisy = add_noise(clean, noise, snr_db)
    measured = 10 * np.log10(_power(clean) / _power(noisy - clean))
    assert abs(measured - snr_db) < 0.01


def test_noise_colours_have_their_spectral_slope() -> None:
    rng = np.random.default_rng(0)
    n = 1 << 15
    freqs = np.fft.rfftfreq(n)
    low, high = (freqs > 0.001) & (freqs < 0.01), (freqs > 0.1) & (freqs < 0.4)
    ratios = {}
    for name, exponent in {"white": 0.0, "pink": 1.0, "brown": 2.0}.items():
        spectrum = np.abs(np.fft.rfft(coloured_noise(n, exponent, rng))) ** 2
        ratios[name] = spectrum[low].mean() / spectrum[high].mean()
    assert 0.7 < ratios["white"] < 1.4
    assert ratios["white"] * 5 < ratios["pink"] < ratios["brown"] / 5


def test_noise_is_reproducible_from_the_generator_seed() -> None:
    sources = [np.sin(np.arange(3000) * 0.05), np.cos(np.arange(5000) * 0.02)]
    a = make_noise("babble", 8000, np.random.default_rng(3), sources)
    b = make_noise("babble", 8000, np.random.default_rng(3), sources)
    c = make_noise("babble", 8000, np.random.default_rng(4), sources)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.shape == (8000,) and _power(a) > 0


def test_babble_needs_sources_and_kind_must_exist() -> None:
    with pytest.raises(ValueError, match="at least one source"):
        babble_noise(100, [], 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown noise kind 'purple'"):
        make_noise("purple", 100, np.random.default_rng(0))
