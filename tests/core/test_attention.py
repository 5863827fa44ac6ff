import math

import pytest
import torch

from lstmkit.attention import AdditiveAttention, MultiplicativeAttention, masked_softmax

ATTENTIONS = [
    lambda: AdditiveAttention(6, 5, 7, dtype=torch.float64),
    lambda: MultiplicativeAttention(6, 5, score="general", dtype=torch.float64),
    lambda: MultiplicativeAttention(5, 5, score="dot", dtype=torch.float64),
]


def _mask(lengths: list[int], size: int) -> torch.Tensor:
    return torch.arange(size) < torch.tensor(lengths).unsqueeze(1)


@pytest.mark.parametrize("make", ATTENTIONS)
def test_masked_positions_get_zero_weight_and_rows_sum_to_one(make):
    torch.manual_seed(0)
    attention = make()
    query_size = 5 if getattr(attention, "score_type", None) == "dot" else 6
    query = torch.randn(4, query_size, dtype=torch.float64)
    keys = torch.randn(4, 7, 5, dtype=torch.float64) * 3
    mask = _mask([7, 3, 1, 5], 7)
    context, weights = attention(query, keys, mask)
    assert context.shape == (4, 5) and weights.shape == (4, 7)
    assert torch.all(weights[~mask] == 0)
    assert torch.all(weights[mask] > 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(4, dtype=torch.float64))
    # padded keys must not leak into the context, whatever their values
    keys_garbage = keys.masked_fill(~mask.unsqueeze(-1), 1e6)
    context_garbage, _ = attention(query, keys_garbage, mask)
    torch.testing.assert_close(context_garbage, context)
    # a single valid position takes all the weight
    assert weights[2, 0] == 1.0


@pytest.mark.parametrize("make", ATTENTIONS)
def test_precomputed_key_projection_matches(make):
    torch.manual_seed(1)
    attention = make()
    query_size = 5 if getattr(attention, "score_type", None) == "dot" else 6
    query = torch.randn(3, query_size, dtype=torch.float64)
    keys = torch.randn(3, 4, 5, dtype=torch.float64)
    mask = _mask([4, 2, 3], 4)
    expected = attention(query, keys, mask)
    got = attention(query, keys, mask, projected_keys=attention.project_keys(keys))
    torch.testing.assert_close(got, expected)


def test_additive_attention_hand_computed():
    attention = AdditiveAttention(2, 2, 2, dtype=torch.float64)
    with torch.no_grad():
        attention.query_proj.weight.copy_(torch.eye(2))
        attention.key_proj.weight.copy_(torch.eye(2))
        attention.key_proj.bias.zero_()
        attention.v.weight.copy_(torch.tensor([[1.0, 1.0]]))
    query = torch.tensor([[0.5, -0.5]], dtype=torch.float64)
    keys = torch.tensor([[[0.5, 0.5], [-0.5, 0.5], [9.0, 9.0]]], dtype=torch.float64)
    mask = torch.tensor([[True, True, False]])
    context, weights = attention(query, keys, mask)
    # e_1 = tanh(1) + tanh(0), e_2 = tanh(0) + tanh(0) = 0
    e1 = math.tanh(1.0)
    w1 = math.exp(e1) / (math.exp(e1) + 1.0)
    expected_weights = torch.tensor([[w1, 1.0 - w1, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(weights, expected_weights)
    expected_context = torch.tensor([[w1 * 0.5 - (1 - w1) * 0.5, 0.5]], dtype=torch.float64)
    torch.testing.assert_close(context, expected_context)


def test_multiplicative_attention_hand_computed():
    general = MultiplicativeAttention(2, 2, score="general", dtype=torch.float64)
    with torch.no_grad():
        general.key_proj.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    dot = MultiplicativeAttention(2, 2, score="dot")
    query = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    keys = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]], dtype=torch.float64)
    mask = torch.tensor([[True, True, False]])
    # general: e = q^T W k = [1, 2, (masked)]
    _, weights = general(query, keys, mask)
    w1 = 1.0 / (1.0 + math.e)
    torch.testing.assert_close(weights, torch.tensor([[w1, 1 - w1, 0.0]], dtype=torch.float64))
    # dot: e = q^T k = [1, 1, 2]
    context, weights = dot(query, keys)
    z = 2 * math.e + math.e**2
    expected = torch.tensor([[math.e / z, math.e / z, math.e**2 / z]], dtype=torch.float64)
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(context, expected[:, [0, 1]] + expected[:, [2, 2]])


def test_fully_masked_row_raises_clear_error():
    attention = AdditiveAttention(3, 3, 4)
    mask = torch.tensor([[True, False], [False, False]])
    with pytest.raises(ValueError, match=r"no valid position in batch rows \[1\]"):
        attention(torch.randn(2, 3), torch.randn(2, 2, 3), mask)


def test_mask_of_wrong_type_or_shape_raises():
    scores = torch.randn(2, 3)
    with pytest.raises(ValueError, match="bool tensor of shape"):
        masked_softmax(scores, torch.ones(2, 3))
    with pytest.raises(ValueError, match="bool tensor of shape"):
        masked_softmax(scores, torch.ones(2, 4, dtype=torch.bool))


def test_invalid_configurations_raise():
    with pytest.raises(ValueError, match="query_size == key_size"):
        MultiplicativeAttention(4, 5, score="dot")
    with pytest.raises(ValueError, match="'general' or 'dot'"):
        MultiplicativeAttention(4, 4, score="concat")


def test_gradients_flow_to_all_parameters():
    torch.manual_seed(0)
    attention = AdditiveAttention(3, 4, 5)
    context, _ = attention(torch.randn(2, 3), torch.randn(2, 6, 4), _mask([6, 2], 6))
    context.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in attention.parameters())
