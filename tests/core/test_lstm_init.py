"""Initialisation: nn.LSTM's by default, forget bias and orthogonal recurrent weights on request."""

import pytest
import torch

import lstmkit


def forget_chunk(tensor):
    return tensor.chunk(4)[1]


def test_plain_lstm_keeps_nn_lstm_forget_bias():
    torch.manual_seed(0)
    reference = torch.nn.LSTM(3, 8)
    torch.manual_seed(0)
    ours = lstmkit.LSTM(3, 8)
    assert ours.forget_bias is None
    torch.testing.assert_close(
        forget_chunk(ours.bias_ih_l0), forget_chunk(reference.bias_ih_l0), rtol=0, atol=0
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"layer_norm": True},
        {"zoneout": 0.1},
        {"residual": True, "num_layers": 2},
        {"hidden_size": [8, 8]},
    ],
)
def test_any_variant_defaults_forget_bias_to_one(kwargs):
    module = lstmkit.LSTM(**({"input_size": 3, "hidden_size": 8} | kwargs), bidirectional=True)
    for name, parameter in module.named_parameters():
        if name.startswith("bias_ih"):
            hh = getattr(module, name.replace("bias_ih", "bias_hh"))
            total = forget_chunk(parameter) + forget_chunk(hh)
            torch.testing.assert_close(total, torch.ones(8))


def test_explicit_forget_bias_without_biases_goes_into_the_input_layer_norm():
    module = lstmkit.LSTM(3, 4, bias=False, layer_norm=True, forget_bias=2.0)
    torch.testing.assert_close(forget_chunk(module.ln_bias_ih_l0), torch.full((4,), 2.0))
    torch.testing.assert_close(module.ln_weight_hh_l0, torch.ones(16))
    torch.testing.assert_close(module.ln_bias_c_l0, torch.zeros(4))


@pytest.mark.parametrize("proj_size", [0, 3])
def test_orthogonal_recurrent_init_gives_orthogonal_gate_blocks(proj_size):
    module = lstmkit.LSTM(3, 6, num_layers=2, proj_size=proj_size, recurrent_init="orthogonal")
    for name in ("weight_hh_l0", "weight_hh_l1"):
        for block in getattr(module, name).detach().chunk(4):
            torch.testing.assert_close(
                block.t() @ block, torch.eye(block.shape[1]), rtol=1e-5, atol=1e-5
            )


def test_per_layer_hidden_sizes_use_their_own_init_range():
    module = lstmkit.LSTM(3, [100, 4], forget_bias=0.0)
    assert module.weight_hh_l0.abs().max() <= 0.1
    assert module.weight_hh_l1.abs().max() > 0.1
    assert module.weight_ih_l1.shape == (16, 100)
