"""Encoders, the captioner's search (beam 1 == greedy) and encoder freezing."""

from __future__ import annotations

from urllib.error import URLError

import pytest
import torch

from tasks.captioning.model.captioner import Captioner
from tasks.captioning.model.encoders import ImageEncoder

DECODER = {"embedding_size": 16, "hidden_size": 32, "attention_size": 16, "dropout": 0.0}
DECODING = {
    "search": "beam",
    "beam_size": 1,
    "max_len": 9,
    "length_penalty": 0.0,
    "no_repeat_ngram_size": 0,
}


@pytest.mark.parametrize(
    ("name", "size", "grid", "dim"),
    [("small_cnn", 64, 64, 64), ("resnet18", 64, 4, 512), ("mobilenet_v3", 64, 4, 576)],
)
def test_encoders_return_a_feature_grid(name: str, size: int, grid: int, dim: int) -> None:
    encoder = ImageEncoder(name).eval()
    features = encoder(torch.rand(2, 3, size, size))
    assert features.shape == (2, grid, dim) and encoder.out_dim == dim


def test_pretrained_weights_offline_fail_with_a_clear_message(monkeypatch) -> None:
    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", offline)
    with pytest.raises(
        RuntimeError, match=r"encoder\.pretrained=true needs the torchvision weights"
    ):
        ImageEncoder("resnet18", pretrained=True)
    with pytest.raises(ValueError, match="unknown encoder"):
        ImageEncoder("vgg99")


def test_beam_search_of_width_one_equals_greedy() -> None:
    torch.manual_seed(0)
    model = Captioner(12, {"name": "small_cnn", "channels": [8, 8]}, DECODER).eval()
    images = torch.rand(5, 3, 32, 32)
    greedy = model.caption(images, **{**DECODING, "search": "greedy"})
    beam = model.caption(images, **{**DECODING, "beam_size": 1})
    assert [g.tokens for g in greedy] == [b.tokens for b in beam]
    assert [g.score for g in greedy] == pytest.approx([b.score for b in beam], abs=1e-5)
    for g, b in zip(greedy, beam, strict=True):
        assert g.attention.shape == (len(g.tokens), 64)
        torch.testing.assert_close(g.attention, b.attention)
    wider = model.caption(images, **{**DECODING, "beam_size": 4})
    # a wider beam never finds a less probable best caption for the same length limit
    assert all(w.score >= g.score - 1e-5 for w, g in zip(wider, greedy, strict=True))


def test_frozen_encoder_blocks_do_not_change_in_training() -> None:
    torch.manual_seed(0)
    model = Captioner(
        12,
        {"name": "small_cnn", "channels": [8, 8, 8], "freeze": True, "trainable_blocks": 1},
        DECODER,
    )
    frozen = {k: v.clone() for k, v in model.encoder.blocks[:2].state_dict().items()}
    last = {k: v.clone() for k, v in model.encoder.blocks[2].state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    assert not model.encoder.blocks[0].training and model.encoder.blocks[2].training
    tokens = torch.randint(4, 12, (4, 6))
    tokens[:, 0] = 1
    for _ in range(2):
        optimizer.zero_grad()
        model.loss(torch.rand(4, 3, 32, 32), tokens, attention_weight=0.1)[0].backward()
        optimizer.step()
    for key, value in model.encoder.blocks[:2].state_dict().items():
        assert torch.equal(value, frozen[key]), key  # weights and batch-norm statistics
    assert any(not torch.equal(v, last[k]) for k, v in model.encoder.blocks[2].state_dict().items())


def test_trainable_blocks_must_exist() -> None:
    with pytest.raises(ValueError, match=r"trainable_blocks must be in \[0, 3\]"):
        ImageEncoder("small_cnn", freeze=True, trainable_blocks=4)
