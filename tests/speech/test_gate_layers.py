"""The gate layers recorded from a pyramidal speech encoder: every layer, bottom first."""

from __future__ import annotations

import torch

from lstmkit import record_gates
from tasks.harness.gate_plots import recorded_layers
from tasks.speech.model import LSTMEncoder


def test_pyramid_encoder_gives_each_layer_at_its_own_frame_rate() -> None:
    torch.manual_seed(0)
    encoder = LSTMEncoder(10, 6, num_layers=3, bidirectional=True, pyramid_after=[1]).eval()
    x, lengths = torch.randn(2, 8, 10), torch.tensor([8, 5])
    with torch.no_grad(), record_gates(encoder) as recording:
        encoder(x, lengths)
    layers = recorded_layers(encoder, recording, item=1)
    assert [len(layer) for layer in layers] == [2, 2, 2]
    # item 1: 5 frames, then 3 after the pyramid halves the rate (zeros past them)
    assert [layer[0].f.shape for layer in layers] == [(8, 6), (4, 6), (4, 6)]
    assert (layers[0][1].f[:5] > 0).all() and (layers[0][1].f[5:] == 0).all()
    assert (layers[2][0].f[:3] > 0).all() and (layers[2][0].f[3:] == 0).all()
