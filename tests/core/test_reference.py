import re

import pytest
import torch

from lstmkit.kernels import lstm_layer
from lstmkit.reference import reference_lstm_layer


def test_reference_matches_nn_lstm_single_layer():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(5, 7, dtype=torch.float64)
    x = torch.randn(9, 3, 5, dtype=torch.float64)
    h0 = torch.randn(1, 3, 7, dtype=torch.float64)
    c0 = torch.randn(1, 3, 7, dtype=torch.float64)
    expected, (h_n, c_n) = lstm(x, (h0, c0))
    gates_x = x @ lstm.weight_ih_l0.t() + lstm.bias_ih_l0 + lstm.bias_hh_l0
    out, h, c = reference_lstm_layer(gates_x, lstm.weight_hh_l0, h0[0], c0[0])
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(h, h_n[0])
    torch.testing.assert_close(c, c_n[0])


def test_reference_mask_carries_state_through_padding():
    torch.manual_seed(0)
    gates_x = torch.randn(6, 2, 16, dtype=torch.float64)
    w_hh = torch.randn(16, 4, dtype=torch.float64)
    h0, c0 = torch.zeros(2, 4, dtype=torch.float64), torch.zeros(2, 4, dtype=torch.float64)
    mask = torch.tensor([[1, 1]] * 4 + [[0, 1]] * 2)
    out, h, c = reference_lstm_layer(gates_x, w_hh, h0, c0, mask=mask)
    short, h_short, c_short = reference_lstm_layer(gates_x[:4, :1], w_hh, h0[:1], c0[:1])
    torch.testing.assert_close(out[:4, :1], short)
    torch.testing.assert_close(h[:1], h_short)
    torch.testing.assert_close(c[:1], c_short)
    assert out[4:, 0].abs().sum() == 0


@pytest.mark.parametrize(
    ("layer_function", "own"),
    [(reference_lstm_layer, "return_gates"), (lstm_layer, "ln_x, w_ih, input_bias")],
)
def test_unknown_variant_keyword_is_a_type_error_naming_it_and_the_valid_ones(
    layer_function, own: str
) -> None:
    gates_x, w_hh = torch.randn(3, 2, 16), torch.randn(16, 4)
    h0 = c0 = torch.zeros(2, 4)
    mask = torch.ones(3, 2)
    valid = f"{own}, ln_h, ln_c, peephole, w_hr, rd_mask, zoneout_h, zoneout_c, mask"
    message = (
        f"{layer_function.__name__}() got an unexpected keyword argument 'ln_hh'; "
        f"its keyword arguments are {valid}"
    )
    with pytest.raises(TypeError, match=re.escape(message)):
        layer_function(gates_x, w_hh, h0, c0, mask=mask, ln_hh=(torch.ones(16), torch.zeros(16)))
    # the same call with the right name runs
    out, _, _ = layer_function(
        gates_x, w_hh, h0, c0, mask=mask, ln_h=(torch.ones(16), torch.zeros(16))
    )
    assert out.shape == (3, 2, 4)
