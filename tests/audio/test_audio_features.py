import pytest
import torch

from tasks.audio.features import (
    CMVN,
    GlobalCMVN,
    LogMel,
    SpecAugment,
    UtteranceCMVN,
    cmvn_stats,
    resample,
)


def test_logmel_shapes_lengths_and_padding() -> None:
    torch.manual_seed(0)
    frontend = LogMel(sample_rate=16000, n_mels=40, hop_length=160).eval()
    waves = torch.randn(2, 16000)
    waves[1, 8000:] = 0
    lengths = torch.tensor([16000, 8000])
    feats, frames = frontend(waves, lengths)
    assert feats.shape == (2, 101, 40)
    assert frames.tolist() == [101, 51]
    assert feats[1, 51:].abs().sum() == 0  # padding frames zeroed
    # each valid frame equals the frame of the sequence computed alone (no leak across batch)
    alone, _ = frontend(waves[1:, :8000], torch.tensor([8000]))
    # (frames whose 400-sample window lies inside the signal; the last ones see padding)
    assert torch.allclose(alone[0, :49], feats[1, :49], atol=1e-4)


def test_dither_only_in_training() -> None:
    frontend = LogMel(dither=1e-3)
    silence = torch.zeros(1, 1600)
    eval_feats, _ = frontend.eval()(silence)
    train_feats, _ = frontend.train()(silence)
    assert torch.all(eval_feats == torch.log(torch.tensor(1e-6)))
    assert train_feats.std() > 0.1


def test_cmvn_stats_and_normalisation() -> None:
    torch.manual_seed(0)
    a, b = torch.randn(50, 4) * 3 + 1, torch.randn(70, 4) * 3 + 1
    mean, std = cmvn_stats([a, b])
    both = torch.cat([a, b])
    assert torch.allclose(mean, both.mean(0), atol=1e-5)
    assert torch.allclose(std, both.std(0, unbiased=False), atol=1e-4)
    cmvn = GlobalCMVN(mean, std)
    out = cmvn(both[None], torch.tensor([100]))
    assert out[0, 100:].abs().sum() == 0
    normed = cmvn(both[None])[0]
    assert torch.allclose(normed.mean(0), torch.zeros(4), atol=1e-5)
    assert set(cmvn.state_dict()) == {"mean", "std"}


def test_specaugment_masks_inside_length_only_in_training() -> None:
    torch.manual_seed(0)
    feats = torch.ones(4, 200, 80)
    lengths = torch.tensor([200, 150, 100, 30])
    aug = SpecAugment(freq_masks=2, freq_width=10, time_masks=2, time_width=20, time_ratio=0.2)
    assert torch.equal(aug.eval()(feats, lengths), feats)
    out = aug.train()(feats, lengths)
    masked = out == 0
    assert masked.any()
    # a frequency band mask covers at most 2 x 10 bins; a time mask at most 2 x min(20, 0.2 L)
    for i, length in enumerate(lengths.tolist()):
        full_bins = masked[i, :length].all(0).sum().item()
        assert full_bins <= 20
        full_frames = masked[i, :length].all(1).sum().item()
        assert full_frames <= 2 * min(20, int(0.2 * length))
    # time masks stay inside each length: no padding frame is fully masked
    assert not masked[3, 30:].all(-1).any()


def test_time_warp_keeps_shape_and_length() -> None:
    torch.manual_seed(0)
    feats = torch.arange(100.0)[None, :, None].repeat(1, 1, 3)
    warped = SpecAugment(freq_masks=0, time_masks=0, time_warp=10).train()(
        feats, torch.tensor([100])
    )
    assert warped.shape == feats.shape
    assert not torch.equal(warped, feats)
    # warping is monotone: frame order is preserved
    assert torch.all(warped[0, 1:, 0] >= warped[0, :-1, 0])


def test_resample_changes_length_and_keeps_tone() -> None:
    t = torch.arange(22050) / 22050
    tone = torch.sin(2 * torch.pi * 300 * t)
    out = resample(tone, 22050, 16000)
    assert out.shape == (16000,)
    assert int(torch.fft.rfft(out).abs().argmax()) == 300
    assert resample(tone, 16000, 16000) is tone


def test_utterance_cmvn_removes_level_and_ignores_padding() -> None:
    torch.manual_seed(0)
    feats = torch.randn(2, 6, 3) * 2 + 5
    feats[1, 4:] = 0.0
    lengths = torch.tensor([6, 4])
    cmvn = UtteranceCMVN()
    out = cmvn(feats, lengths)
    # a gain or a channel adds a constant per mel bin to every log-mel frame
    shifted = feats + torch.tensor([1.5, -3.0, 0.7])
    torch.testing.assert_close(cmvn(shifted, lengths), out)
    assert out[1, 4:].abs().sum() == 0
    torch.testing.assert_close(cmvn(feats[1:, :4], torch.tensor([4]))[0], out[1, :4])
    torch.testing.assert_close(out[0].mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[0].std(0, unbiased=False), torch.ones(3), atol=1e-4, rtol=0)


def test_cmvn_picks_global_or_utterance_and_keeps_one_state_layout() -> None:
    torch.manual_seed(0)
    feats, lengths = torch.randn(2, 5, 3) + 4.0, torch.tensor([5, 3])
    mean, std = torch.full((3,), 4.0), torch.full((3,), 2.0)
    global_cmvn = CMVN(mean, std, 3, "global")
    utterance_cmvn = CMVN(mean, std, 3, "utterance")
    torch.testing.assert_close(global_cmvn(feats, lengths), GlobalCMVN(mean, std)(feats, lengths))
    torch.testing.assert_close(utterance_cmvn(feats, lengths), UtteranceCMVN()(feats, lengths))
    assert global_cmvn.state_dict().keys() == utterance_cmvn.state_dict().keys() == {"mean", "std"}
    with pytest.raises(ValueError, match=r"encoder\.normalization must be one of"):
        CMVN(mean, std, 3, "batch")
