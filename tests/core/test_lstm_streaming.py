"""Running a sequence in chunks, carrying (h, c), equals running it whole."""

import pytest
import torch

import lstmkit

DT = torch.float64

CONFIGS = {
    "plain": {"num_layers": 2},
    "plain_batch_first_projection": {"num_layers": 2, "proj_size": 3, "batch_first": True},
    "variants": {
        "num_layers": 2,
        "layer_norm": True,
        "peephole": True,
        "zoneout": 0.2,
        "proj_size": 3,
    },
    "per_layer_sizes": {"hidden_size": [6, 4], "layer_norm": [False, True], "residual": True},
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_chunked_equals_whole(name):
    kwargs = {"input_size": 3, "hidden_size": 5} | CONFIGS[name]
    torch.manual_seed(0)
    module = lstmkit.LSTM(dtype=DT, **kwargs).eval()
    time_dim = 1 if kwargs.get("batch_first") else 0
    x = torch.randn(10, 2, 3, dtype=DT)
    if time_dim:
        x = x.transpose(0, 1)
    whole, (h_whole, c_whole) = module(x)
    outputs, state = [], None
    for chunk in x.split([4, 1, 5], dim=time_dim):
        output, state = module(chunk, state)
        outputs.append(output)
    torch.testing.assert_close(torch.cat(outputs, dim=time_dim), whole, rtol=1e-9, atol=1e-9)
    for chunked, expected in zip((*state[0], *state[1]), (*h_whole, *c_whole), strict=True):
        torch.testing.assert_close(chunked, expected, rtol=1e-9, atol=1e-9)


def test_chunked_with_lengths_carries_each_sequence_state():
    torch.manual_seed(0)
    module = lstmkit.LSTM(3, 5, layer_norm=True, dtype=DT).eval()
    x = torch.randn(8, 2, 3, dtype=DT)
    whole = module(x[:, :1])[0]
    first, state = module(x[:4], lengths=torch.tensor([4, 2]))
    second, _ = module(x[4:], state, lengths=torch.tensor([4, 1]))
    torch.testing.assert_close(torch.cat([first[:, :1], second[:, :1]]), whole)
