"""lstmkit.LSTMCell against torch.nn.LSTMCell."""

import pytest
import torch

import lstmkit

DT = torch.float64


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched", [True, False])
def test_cell_matches_nn_lstm_cell(bias, batched):
    torch.manual_seed(0)
    reference = torch.nn.LSTMCell(3, 5, bias=bias, dtype=DT)
    torch.manual_seed(0)
    ours = lstmkit.LSTMCell(3, 5, bias=bias, dtype=DT)
    assert list(ours.state_dict()) == list(reference.state_dict())
    for expected, actual in zip(reference.parameters(), ours.parameters(), strict=True):
        assert torch.equal(expected, actual)
    shape = (2, 3) if batched else (3,)
    state_shape = (2, 5) if batched else (5,)
    x = torch.randn(shape, dtype=DT, requires_grad=True)
    hx = tuple(torch.randn(state_shape, dtype=DT, requires_grad=True) for _ in range(2))
    results = []
    for module in (reference, ours):
        h, c = module(x, hx)
        grads = torch.autograd.grad((h.sin() + c.cos()).sum(), [x, *hx, *module.parameters()])
        results.append([h, c, *grads])
    for expected, actual in zip(*results, strict=True):
        torch.testing.assert_close(actual, expected, rtol=1e-6, atol=1e-6)
    assert ours(x)[0].shape == state_shape


def test_cell_errors_match():
    reference, ours = torch.nn.LSTMCell(3, 4), lstmkit.LSTMCell(3, 4)
    for x, hx in [
        (torch.randn(1, 2, 3), None),
        (torch.randn(2, 3), (torch.zeros(1, 2, 4), torch.zeros(2, 4))),
    ]:
        with pytest.raises(ValueError) as expected:
            reference(x, hx)
        with pytest.raises(ValueError) as actual:
            ours(x, hx)
        assert str(actual.value) == str(expected.value)


@pytest.mark.parametrize(
    "variants",
    [
        {"layer_norm": True},
        {"peephole": True, "zoneout": 0.25},
        {"layer_norm": True, "peephole": True, "bias": False},
    ],
)
def test_cell_with_variants_steps_like_the_lstm_layer(variants):
    torch.manual_seed(0)
    layer = lstmkit.LSTM(3, 4, dtype=DT, **variants).eval()
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    cell = lstmkit.LSTMCell(3, 4, dtype=DT, **variants).eval()
    cell.load_state_dict(
        {name.removesuffix("_l0"): value for name, value in layer.state_dict().items()}
    )
    x = torch.randn(5, 2, 3, dtype=DT, requires_grad=True)
    expected, (_, c_n) = layer(x)
    state, outputs = None, []
    for step in x:
        state = cell(step, state)
        outputs.append(state[0])
    torch.testing.assert_close(torch.stack(outputs), expected, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(state[1], c_n[0], rtol=1e-9, atol=1e-9)
    (grad_cell,) = torch.autograd.grad(torch.stack(outputs).sum(), x)
    (grad_layer,) = torch.autograd.grad(expected.sum(), x)
    torch.testing.assert_close(grad_cell, grad_layer, rtol=1e-9, atol=1e-9)


def test_cell_variants_default_forget_bias_to_one():
    cell = lstmkit.LSTMCell(3, 4, layer_norm=True)
    torch.testing.assert_close(cell.bias_ih.chunk(4)[1] + cell.bias_hh.chunk(4)[1], torch.ones(4))
    assert lstmkit.LSTMCell(3, 4).forget_bias is None
