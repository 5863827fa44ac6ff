"""lstmkit.LSTM against torch.nn.LSTM: same init, outputs and gradients (float64, 1e-6)."""

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import lstmkit

TOL = {"rtol": 1e-6, "atol": 1e-6}
DT = torch.float64


def make_pair(**kwargs):
    """An nn.LSTM and an lstmkit.LSTM holding the same weights."""
    torch.manual_seed(0)
    reference = torch.nn.LSTM(dtype=DT, **kwargs)
    ours = lstmkit.LSTM(dtype=DT, **kwargs)
    ours.load_state_dict(reference.state_dict())
    return reference, ours


def run_and_backward(module, x, hx, **forward_kwargs):
    """Forward, then backward a fixed random projection of every output; return outputs + grads."""
    inputs = [x] + ([] if hx is None else list(hx))
    for tensor in inputs:
        tensor.grad = None
    module.zero_grad()
    output, (h_n, c_n) = module(x, hx, **forward_kwargs)
    if isinstance(output, torch.nn.utils.rnn.PackedSequence):
        output = output.data
    generator = torch.Generator().manual_seed(1)
    loss = sum(
        (t * torch.randn(t.shape, generator=generator, dtype=DT)).sum() for t in (output, h_n, c_n)
    )
    loss.backward()
    grads = [t.grad for t in inputs] + [p.grad for p in module.parameters()]
    return [output, h_n, c_n], grads


def assert_same(reference_results, our_results):
    for expected, actual in zip(
        *[[*values, *grads] for values, grads in (reference_results, our_results)], strict=True
    ):
        torch.testing.assert_close(actual, expected, **TOL)


CONFIGS = {
    "unidirectional": {"input_size": 3, "hidden_size": 5},
    "bidirectional": {"input_size": 3, "hidden_size": 5, "bidirectional": True},
    "stacked_bidirectional": {
        "input_size": 3,
        "hidden_size": 4,
        "num_layers": 3,
        "bidirectional": True,
    },
    "batch_first": {"input_size": 3, "hidden_size": 5, "num_layers": 2, "batch_first": True},
    "proj_size": {
        "input_size": 3,
        "hidden_size": 6,
        "num_layers": 2,
        "proj_size": 2,
        "bidirectional": True,
    },
    "no_bias": {"input_size": 3, "hidden_size": 5, "bias": False},
}


def test_default_init_matches_nn_lstm_given_the_seed():
    kwargs = {
        "input_size": 3,
        "hidden_size": 5,
        "num_layers": 2,
        "bidirectional": True,
        "proj_size": 2,
    }
    torch.manual_seed(3)
    reference = torch.nn.LSTM(**kwargs)
    torch.manual_seed(3)
    ours = lstmkit.LSTM(**kwargs)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in reference.named_parameters()]
    for expected, actual in zip(reference.parameters(), ours.parameters(), strict=True):
        assert torch.equal(expected, actual)


@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_outputs_and_gradients_match(name, with_state):
    kwargs = CONFIGS[name]
    reference, ours = make_pair(**kwargs)
    torch.manual_seed(2)
    time_steps, batch = 6, 3
    shape = (batch, time_steps, 3) if kwargs.get("batch_first") else (time_steps, batch, 3)
    x = torch.randn(shape, dtype=DT, requires_grad=True)
    hx = None
    if with_state:
        layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
        size = kwargs.get("proj_size") or kwargs["hidden_size"]
        hx = (
            torch.randn(layers, batch, size, dtype=DT, requires_grad=True),
            torch.randn(layers, batch, kwargs["hidden_size"], dtype=DT, requires_grad=True),
        )
    assert_same(run_and_backward(reference, x, hx), run_and_backward(ours, x, hx))


@pytest.mark.parametrize("with_state", [False, True])
def test_unbatched_input_matches(with_state):
    reference, ours = make_pair(input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    x = torch.randn(5, 3, dtype=DT, requires_grad=True)
    hx = None
    if with_state:
        hx = tuple(torch.randn(4, 4, dtype=DT, requires_grad=True) for _ in range(2))
    ref_results = run_and_backward(reference, x, hx)
    our_results = run_and_backward(ours, x, hx)
    assert our_results[0][0].shape == (5, 8)
    assert our_results[0][1].shape == (4, 4)
    assert_same(ref_results, our_results)


@pytest.mark.parametrize("batch_first", [False, True])
def test_packed_sequence_input_matches(batch_first):
    reference, ours = make_pair(
        input_size=3,
        hidden_size=4,
        num_layers=2,
        bidirectional=True,
        proj_size=2,
        batch_first=batch_first,
    )
    lengths = torch.tensor([3, 6, 1, 4])
    padded = torch.randn(4, 6, 3, dtype=DT) if batch_first else torch.randn(6, 4, 3, dtype=DT)
    packed = pack_padded_sequence(padded, lengths, batch_first=batch_first, enforce_sorted=False)
    packed.data.requires_grad_(True)
    hx = (
        torch.randn(4, 4, 2, dtype=DT, requires_grad=True),
        torch.randn(4, 4, 4, dtype=DT, requires_grad=True),
    )

    def run(module):
        for tensor in (packed.data, *hx):
            tensor.grad = None
        module.zero_grad()
        output, (h_n, c_n) = module(packed, hx)
        assert output.sorted_indices is packed.sorted_indices
        loss = output.data.square().sum() + h_n.sin().sum() + c_n.cos().sum()
        loss.backward()
        return [output.data, h_n, c_n], [packed.data.grad, *(t.grad for t in hx)] + [
            p.grad for p in module.parameters()
        ]

    assert_same(run(reference), run(ours))


@pytest.mark.parametrize("batch_first", [False, True])
def test_lengths_match_packed_nn_lstm_and_zero_padding(batch_first):
    reference, ours = make_pair(
        input_size=3, hidden_size=4, num_layers=2, bidirectional=True, batch_first=batch_first
    )
    lengths = torch.tensor([2, 5, 3])
    torch.manual_seed(4)
    x = torch.randn((3, 5, 3) if batch_first else (5, 3, 3), dtype=DT, requires_grad=True)

    def run_reference():
        x.grad = None
        reference.zero_grad()
        packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
        output, (h_n, c_n) = reference(packed)
        output = pad_packed_sequence(output, batch_first=batch_first, total_length=5)[0]
        (output.square().sum() + h_n.sum() + c_n.sum()).backward()
        return [output, h_n, c_n], [x.grad] + [p.grad for p in reference.parameters()]

    def run_ours():
        x.grad = None
        ours.zero_grad()
        output, (h_n, c_n) = ours(x, lengths=lengths)
        (output.square().sum() + h_n.sum() + c_n.sum()).backward()
        return [output, h_n, c_n], [x.grad] + [p.grad for p in ours.parameters()]

    ours_results = run_ours()
    assert_same(run_reference(), ours_results)
    output = ours_results[0][0]
    time_major = output.transpose(0, 1) if batch_first else output
    for b, length in enumerate(lengths.tolist()):
        assert time_major[length:, b].abs().sum() == 0


def test_lengths_final_state_is_the_state_at_the_true_end():
    _, ours = make_pair(input_size=3, hidden_size=4, bidirectional=True)
    torch.manual_seed(5)
    x = torch.randn(6, 2, 3, dtype=DT)
    lengths = torch.tensor([4, 6])
    output, (h_n, c_n) = ours(x, lengths=lengths)
    alone, (h_alone, c_alone) = ours(x[:4, :1])
    torch.testing.assert_close(output[:4, :1], alone, **TOL)
    torch.testing.assert_close(h_n[:, :1], h_alone, **TOL)
    torch.testing.assert_close(c_n[:, :1], c_alone, **TOL)


def test_state_dict_round_trip_both_ways():
    kwargs = {
        "input_size": 3,
        "hidden_size": 5,
        "num_layers": 2,
        "bidirectional": True,
        "proj_size": 3,
    }
    torch.manual_seed(0)
    ours = lstmkit.LSTM(**kwargs)
    torch.manual_seed(1)
    reference = torch.nn.LSTM(**kwargs)
    reference.load_state_dict(ours.state_dict())
    back = lstmkit.LSTM(**kwargs)
    back.load_state_dict(reference.state_dict())
    x = torch.randn(4, 2, 3)
    torch.testing.assert_close(reference(x)[0], ours(x)[0])
    torch.testing.assert_close(back(x)[0], ours(x)[0])
    assert list(ours.state_dict()) == list(reference.state_dict())


def test_inter_layer_dropout_is_applied_in_training_only():
    reference, ours = make_pair(input_size=3, hidden_size=4, num_layers=2, dropout=0.5)
    x = torch.randn(5, 2, 3, dtype=DT)
    torch.manual_seed(7)
    expected = reference(x)[0]
    torch.manual_seed(7)
    torch.testing.assert_close(ours(x)[0], expected, **TOL)
    ours.eval()
    reference.eval()
    torch.testing.assert_close(ours(x)[0], reference(x)[0], **TOL)
    ours.train()
    assert not torch.allclose(ours(x)[0], reference.eval()(x)[0])


def test_lengths_may_be_a_list():
    _, ours = make_pair(input_size=3, hidden_size=4, bidirectional=True)
    x = torch.randn(5, 2, 3, dtype=DT)
    output, (h_n, _) = ours(x, lengths=[5, 3])
    expected, (h_expected, _) = ours(x, lengths=torch.tensor([5, 3]))
    torch.testing.assert_close(output, expected, rtol=0, atol=0)
    torch.testing.assert_close(h_n, h_expected, rtol=0, atol=0)
