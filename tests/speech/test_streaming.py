"""Streaming through the carried state gives the whole-utterance output."""

import pytest
import torch

from tasks.speech.model import SpeechRecognizer
from tasks.speech.streaming import StreamingRecognizer, stream_log_probs


def uni_recognizer(**overrides) -> SpeechRecognizer:
    torch.manual_seed(0)
    cfg = dict(
        subsampling="stack",
        subsampling_factor=4,
        hidden_size=24,
        num_layers=2,
        bidirectional=False,
        features={"log_mel": {"n_mels": 20}},
    )
    cfg.update(overrides)
    model = SpeechRecognizer(12, torch.full((20,), -3.0), torch.full((20,), 2.0), **cfg)
    return model.eval()


@pytest.mark.parametrize("chunk", [160, 1000, 4321, 30000])
def test_streamed_log_probs_equal_the_whole_utterance(chunk):
    model = uni_recognizer()
    wave = torch.randn(20517, generator=torch.Generator().manual_seed(3)) * 0.2
    with torch.inference_mode():
        whole, _ = model(wave[None], torch.tensor([wave.numel()]))
    streamed = stream_log_probs(model, wave, chunk)
    assert streamed.shape == whole[0].shape
    torch.testing.assert_close(streamed, whole[0], atol=1e-4, rtol=1e-4)


def test_streaming_with_a_pyramid_encoder_and_partial_results():
    model = uni_recognizer(subsampling_factor=2, num_layers=2, pyramid_after=[1])
    wave = torch.randn(12000, generator=torch.Generator().manual_seed(4)) * 0.2
    with torch.inference_mode():
        whole, _ = model(wave[None], torch.tensor([wave.numel()]))
    stream = StreamingRecognizer(model)
    first = stream.accept(wave[:6000])
    assert 0 < first.shape[0] < whole.shape[1]  # output arrives before the end
    rest = torch.cat([stream.accept(wave[6000:]), stream.finish()])
    torch.testing.assert_close(torch.cat([first, rest]), whole[0], atol=1e-4, rtol=1e-4)


def test_streaming_refuses_bidirectional_models_and_too_short_audio():
    with pytest.raises(ValueError, match="unidirectional"):
        StreamingRecognizer(uni_recognizer(bidirectional=True))
    with pytest.raises(ValueError, match="per-frame"):
        StreamingRecognizer(uni_recognizer(normalization="utterance"))
    stream = StreamingRecognizer(uni_recognizer())
    stream.accept(torch.zeros(100))
    with pytest.raises(ValueError, match="too short"):
        stream.finish()
