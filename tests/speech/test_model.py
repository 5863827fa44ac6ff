"""Recogniser forward shapes and length handling for every encoder config."""

from pathlib import Path

import pytest
import torch
import yaml

from tasks.speech.model import SpeechRecognizer, waveform_frontend

CONF = Path(__file__).resolve().parents[2] / "conf" / "encoder" / "speech"
ENCODERS = ["blstm", "conv_blstm", "pblstm", "uni_lstm"]
VOCAB = 30


def small_recognizer(name: str) -> SpeechRecognizer:
    cfg = yaml.safe_load((CONF / f"{name}.yaml").read_text())
    cfg.pop("name")
    cfg.update(hidden_size=16, num_layers=3 if cfg["pyramid_after"] else 2, conv_channels=4)
    torch.manual_seed(0)
    return SpeechRecognizer(VOCAB, features={"log_mel": {"n_mels": 20}}, **cfg).eval()


@pytest.mark.parametrize("name", ENCODERS)
def test_forward_shapes_lengths_and_probabilities(name):
    model = small_recognizer(name)
    cfg = yaml.safe_load((CONF / f"{name}.yaml").read_text())
    # blstm: 3 stacked frames (30 ms); the others 4x (40 ms), pblstm as 2 x 2
    reduction = cfg["subsampling_factor"] * 2 ** len(cfg["pyramid_after"])
    assert reduction == (3 if name == "blstm" else 4)
    assert model.frame_reduction == reduction
    assert model.output_frame_seconds == pytest.approx(0.01 * reduction)
    waves = torch.randn(3, 16000) * 0.1
    lengths = torch.tensor([16000, 9000, 4001])
    log_probs, out_lengths = model(waves, lengths)
    frames = lengths // 160 + 1
    assert out_lengths.tolist() == ((frames + reduction - 1) // reduction).tolist()
    assert log_probs.shape == (3, int(out_lengths.max()), VOCAB)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(3, log_probs.shape[1]), atol=1e-5)


@pytest.mark.parametrize("name", ENCODERS)
def test_padded_batch_matches_each_utterance_alone(name):
    model = small_recognizer(name)
    feats = torch.randn(2, 37, 20)
    lengths = torch.tensor([37, 22])
    feats[1, 22:] = 0.0
    batched, out_lengths, _ = model.from_features(feats, lengths)
    alone, alone_lengths, _ = model.from_features(feats[1:, :22], lengths[1:])
    frames = -(-22 // model.frame_reduction)  # ceil: 6 at 4x, 8 at 3x
    assert out_lengths[1] == alone_lengths[0] == frames
    torch.testing.assert_close(batched[1, :frames], alone[0], atol=1e-5, rtol=1e-5)


def test_state_carry_continues_a_unidirectional_sequence():
    model = small_recognizer("uni_lstm")
    feats = torch.randn(1, 40, 20)
    whole, _, _ = model.from_features(feats, torch.tensor([40]))
    first, _, state = model.from_features(feats[:, :24], torch.tensor([24]))
    second, _, _ = model.from_features(feats[:, 24:], torch.tensor([16]), state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, atol=1e-5, rtol=1e-5)


def test_utterance_normalization_ignores_the_recording_level():
    model = small_recognizer("blstm")
    model.frontend = waveform_frontend(None, None, "utterance", {"n_mels": 20}).eval()
    wave = torch.randn(1, 12000, generator=torch.Generator().manual_seed(1)) * 0.1
    lengths = torch.tensor([12000])
    quiet, _ = model(wave, lengths)
    loud, _ = model(wave * 4.0, lengths)  # a gain adds log(16) to every log-mel bin
    torch.testing.assert_close(loud, quiet, atol=1e-4, rtol=1e-4)
    assert model.frontend.cmvn.normalization == "utterance" and "cmvn.mean" in dict(
        model.frontend.named_buffers()
    )


def test_invalid_configs_are_refused():
    with pytest.raises(ValueError, match=r"encoder\.normalization must be one of"):
        SpeechRecognizer(VOCAB, normalization="batch")
    with pytest.raises(ValueError, match="factor must be 2 or 4"):
        SpeechRecognizer(VOCAB, subsampling="conv", subsampling_factor=3)
    with pytest.raises(ValueError, match="pyramid_after"):
        SpeechRecognizer(VOCAB, num_layers=2, pyramid_after=[2])
