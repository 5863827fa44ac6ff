"""The shared audio front-end: CMVN, SpecAugment and subsampling, with or without log-mels."""

import pytest
import torch

from tasks.audio.features import CMVN, LogMel, SpecAugment
from tasks.audio.frontend import AudioFrontEnd
from tasks.audio.subsampling import build_subsampling

N_MELS = 20


def stats() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(N_MELS, generator=generator), torch.rand(N_MELS, generator=generator) + 0.5


@pytest.mark.parametrize(("kind", "factor", "size"), [("stack", 4, 4 * 20), ("conv", 4, 4 * 5)])
def test_subsampling_front_end_shapes_and_lengths(kind: str, factor: int, size: int) -> None:
    mean, std = stats()
    frontend = AudioFrontEnd(
        N_MELS, mean, std, "global", SpecAugment(), build_subsampling(kind, N_MELS, factor, 4)
    ).eval()
    out, lengths = frontend(torch.randn(2, 10, N_MELS), torch.tensor([10, 5]))
    assert out.shape == (2, 3, size) and frontend.output_size == size
    assert lengths.tolist() == [3, 2]


def test_waveform_front_end_is_log_mel_then_cmvn() -> None:
    mean, std = stats()
    log_mel = LogMel(n_mels=N_MELS)
    frontend = AudioFrontEnd(N_MELS, mean, std, "global", SpecAugment(), log_mel=log_mel).eval()
    waves = 0.1 * torch.randn(2, 4000, generator=torch.Generator().manual_seed(1))
    lengths = torch.tensor([4000, 2500])
    out, frames = frontend(waves, lengths)
    feats, expected_frames = log_mel(waves, lengths)
    assert torch.equal(frames, expected_frames) and frontend.output_size == N_MELS
    assert torch.equal(out, CMVN(mean, std, N_MELS)(feats, frames))
    assert torch.all(out[1, int(frames[1]) :] == 0)


def test_spec_augment_only_in_training() -> None:
    mean, std = stats()
    augment = SpecAugment(freq_masks=2, freq_width=8, time_masks=2, time_width=10)
    frontend = AudioFrontEnd(N_MELS, mean, std, "utterance", augment)
    feats, lengths = torch.randn(3, 40, N_MELS), torch.tensor([40, 30, 12])
    evaluated = frontend.eval().normalize(feats, lengths)
    assert torch.equal(evaluated, CMVN(None, None, N_MELS, "utterance")(feats, lengths))
    torch.manual_seed(0)
    trained = frontend.train().normalize(feats, lengths)
    masked = trained != evaluated
    assert masked.any() and torch.all(trained[masked] == 0)


def test_state_dict_layout() -> None:
    """Checkpoints store the log-mel buffers first, then CMVN, then the subsampling."""
    mean, std = stats()
    speech = AudioFrontEnd(
        N_MELS, mean, std, "global", SpecAugment(), log_mel=LogMel(n_mels=N_MELS)
    )
    assert [k for k in speech.state_dict() if not k.startswith("log_mel.")] == [
        "cmvn.mean",
        "cmvn.std",
    ]
    assert next(iter(speech.state_dict())).startswith("log_mel.")
    spoken = AudioFrontEnd(
        N_MELS, mean, std, "global", SpecAugment(), build_subsampling("conv", N_MELS, 2, 4)
    )
    assert list(spoken.state_dict()) == [
        "cmvn.mean",
        "cmvn.std",
        "subsampling.convs.0.weight",
        "subsampling.convs.0.bias",
    ]
