"""Variants of lstmkit.LSTM against a composition of reference_lstm_layer (float64, 1e-6).

The composition below is written independently of the module: gate inputs, per-sequence
reversal for the backward direction, residual sums and per-layer states. Random tensors
(recurrent dropout masks, zoneout samples) are captured from the module's calls to the
layer function and replayed, so training mode is compared too.
"""

import pytest
import torch
import torch.nn.functional as F

import lstmkit
import lstmkit.recurrence
from lstmkit.reference import reference_lstm_layer

DT = torch.float64
TOL = {"rtol": 1e-6, "atol": 1e-6}


class LayerCallSpy:
    """Wraps the layer function and records the keyword arguments of each call."""

    def __init__(self, function):
        self.function = function
        self.calls = []

    def __call__(self, *args, **kwargs):
        self.calls.append(kwargs)
        return self.function(*args, **kwargs)


@pytest.fixture
def spy(monkeypatch):
    spy = LayerCallSpy(lstmkit.recurrence.lstm_layer)
    monkeypatch.setattr(lstmkit.recurrence, "lstm_layer", spy)
    return spy


def reverse_each(x, lengths):
    """Reverse every sequence of x (T, B, F) within its own length."""
    columns = []
    for b in range(x.shape[1]):
        n = x.shape[0] if lengths is None else int(lengths[b])
        columns.append(torch.cat([x[:n, b].flip(0), x[n:, b]]))
    return torch.stack(columns, dim=1)


def composed(module, x, lengths=None, captured=()):
    """The LSTM stack built from reference_lstm_layer; x is (T, B, I)."""
    captured = list(captured)
    steps, batch = x.shape[:2]
    mask = None
    if lengths is not None:
        mask = (torch.arange(steps).unsqueeze(1) < lengths.unsqueeze(0)).to(DT)
    h_n, c_n = [], []
    for layer in range(module.num_layers):
        outputs = []
        variants = module.layer_variants[layer]
        for direction, suffix in enumerate(["", "_reverse"][: module.num_directions]):

            def p(name, layer=layer, suffix=suffix):
                return getattr(module, f"{name}_l{layer}{suffix}", None)

            hidden = p("weight_hh").shape[0] // 4
            state = p("weight_hh").shape[1]
            layer_input = reverse_each(x, lengths) if direction else x
            gates = layer_input @ p("weight_ih").t()
            if variants.layer_norm:
                gates = F.layer_norm(gates, (4 * hidden,), p("ln_weight_ih"), p("ln_bias_ih"))
            gates = gates + p("bias_ih") + p("bias_hh")
            random = {}
            # Variant layers, and on CPU every layer given lengths, call the layer function.
            if variants.changes_recurrence or lengths is not None:
                call = captured.pop(0)
                random = {k: call[k] for k in ("rd_mask", "zoneout_h", "zoneout_c")}
            out, h, c = reference_lstm_layer(
                gates,
                p("weight_hh"),
                torch.zeros(batch, state, dtype=DT),
                torch.zeros(batch, hidden, dtype=DT),
                ln_h=(p("ln_weight_hh"), p("ln_bias_hh")) if variants.layer_norm else None,
                ln_c=(p("ln_weight_c"), p("ln_bias_c")) if variants.layer_norm else None,
                peephole=p("weight_peephole"),
                w_hr=p("weight_hr"),
                mask=mask,
                **random,
            )
            outputs.append(reverse_each(out, lengths) if direction else out)
            h_n.append(h)
            c_n.append(c)
        output = torch.cat(outputs, dim=-1)
        x = output + x if module.residual[layer] else output
    return x, h_n, c_n


def flat_state(state):
    """(h_n, c_n) as one list of (B, F) tensors per layer-direction."""
    parts = []
    for part in state:
        tensors = [part] if isinstance(part, torch.Tensor) else part
        parts.append([row for t in tensors for row in t])
    return parts


def compare(module, x, lengths=None, spy=None, training=False):
    module.train(training)
    generator = torch.Generator().manual_seed(1)
    results = []
    for run in ("module", "composed"):
        module.zero_grad()
        x.grad = None
        if run == "module":
            output, state = module(x, lengths=lengths)
            h_n, c_n = flat_state(state)
        else:
            output, h_n, c_n = composed(module, x, lengths, spy.calls if spy else ())
        tensors = [output, *h_n, *c_n]
        generator.manual_seed(1)
        loss = sum((t * torch.randn(t.shape, generator=generator, dtype=DT)).sum() for t in tensors)
        loss.backward()
        grads = [x.grad] + [p.grad for p in module.parameters()]
        results.append(tensors + grads)
    for actual, expected in zip(*results, strict=True):
        torch.testing.assert_close(actual, expected, **TOL)


VARIANTS = {
    "layer_norm": {"layer_norm": True},
    "peephole": {"peephole": True},
    "projection_with_layer_norm_and_peephole": {
        "proj_size": 2,
        "layer_norm": True,
        "peephole": True,
    },
    "zoneout": {"zoneout": 0.3},
    "recurrent_dropout": {"recurrent_dropout": 0.4},
    "everything_bidirectional_stacked": {
        "num_layers": 2,
        "bidirectional": True,
        "proj_size": 2,
        "layer_norm": True,
        "peephole": True,
        "zoneout": 0.2,
        "recurrent_dropout": 0.3,
        "residual": True,
    },
    "per_layer_variants": {
        "num_layers": 3,
        "bidirectional": True,
        "layer_norm": [True, False, False],
        "peephole": [False, False, True],
        "residual": True,
    },
    "per_layer_hidden_sizes": {
        "hidden_size": [5, 3, 3],
        "zoneout": [0.0, 0.5, 0.0],
        "residual": True,
    },
}


CASES = [  # (variant, with lengths, training mode)
    ("layer_norm", False, False),
    ("layer_norm", True, True),
    ("peephole", True, False),
    ("projection_with_layer_norm_and_peephole", False, True),
    ("zoneout", False, True),
    ("zoneout", True, False),
    ("recurrent_dropout", True, True),
    ("everything_bidirectional_stacked", True, True),
    ("everything_bidirectional_stacked", False, False),
    ("per_layer_variants", True, False),
    ("per_layer_hidden_sizes", True, True),
]


@pytest.mark.parametrize("name, use_lengths, training", CASES)
def test_variant_matches_reference_composition(name, use_lengths, training, spy):
    kwargs = {"input_size": 3, "hidden_size": 4} | VARIANTS[name]
    torch.manual_seed(0)
    module = lstmkit.LSTM(dtype=DT, **kwargs)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    x = torch.randn(5, 3, 3, dtype=DT, requires_grad=True)
    lengths = torch.tensor([5, 2, 4]) if use_lengths else None
    compare(module, x, lengths, spy, training)


def test_recurrent_dropout_uses_one_mask_per_sequence(spy):
    module = lstmkit.LSTM(3, 8, bidirectional=True, num_layers=2, recurrent_dropout=0.25, dtype=DT)
    module(torch.randn(7, 64, 3, dtype=DT))
    masks = [call["rd_mask"] for call in spy.calls]
    assert len(masks) == 4
    for mask in masks:
        # No time axis: the same mask multiplies h_{t-1} at every step.
        assert mask.shape == (64, 8)
        assert set(mask.unique().tolist()) == {0.0, 1 / 0.75}
        assert 0.6 < (mask > 0).double().mean() < 0.9
    assert not torch.equal(masks[0], masks[1])
    spy.calls.clear()
    module.eval()(torch.randn(7, 64, 3, dtype=DT))
    assert all(call["rd_mask"] is None for call in spy.calls)


def test_zoneout_samples_per_step_in_training_and_uses_its_expectation_in_eval(spy):
    module = lstmkit.LSTM(3, 8, proj_size=2, zoneout=0.3, dtype=DT)
    x = torch.randn(6, 50, 3, dtype=DT)
    module(x)
    call = spy.calls.pop()
    assert call["zoneout_h"].shape == (6, 50, 2)
    assert call["zoneout_c"].shape == (6, 50, 8)
    assert 0.2 < call["zoneout_c"].mean() < 0.4
    assert not torch.equal(call["zoneout_c"][0], call["zoneout_c"][1])
    module.eval()
    output = module(x)[0]
    call = spy.calls.pop()
    assert call["zoneout_h"].dim() == 0 and float(call["zoneout_h"]) == pytest.approx(0.3)
    torch.testing.assert_close(module(x)[0], output)
    # In evaluation h_t = 0.3 h_{t-1} + 0.7 h'_t: the first step is 0.7 of the plain step.
    plain = lstmkit.LSTM(3, 8, proj_size=2, dtype=DT)
    plain.load_state_dict(module.state_dict())
    torch.testing.assert_close(output[0], 0.7 * plain(x[:1])[0][0])


@pytest.mark.parametrize(
    "kwargs",
    [
        {
            "bidirectional": True,
            "num_layers": 2,
            "layer_norm": True,
            "peephole": True,
            "zoneout": 0.2,
        },
        {"bidirectional": True, "hidden_size": [5, 4], "residual": [False, False]},
        {"bidirectional": True, "num_layers": 2},
    ],
)
def test_lengths_give_each_sequence_its_own_run(kwargs):
    kwargs = {"input_size": 3, "hidden_size": 4} | kwargs
    torch.manual_seed(0)
    module = lstmkit.LSTM(dtype=DT, **kwargs).eval()
    lengths = torch.tensor([6, 2, 4])
    x = torch.randn(6, 3, 3, dtype=DT)
    x[2:, 1] = 100.0  # padding must not leak into any state or output
    x[4:, 2] = -100.0
    output, state = module(x, lengths=lengths)
    h_n, c_n = flat_state(state)
    for b, n in enumerate(lengths.tolist()):
        alone, alone_state = module(x[:n, b : b + 1])
        torch.testing.assert_close(output[:n, b : b + 1], alone, **TOL)
        assert output[n:, b].abs().sum() == 0
        alone_h, alone_c = flat_state(alone_state)
        for ours, theirs in zip(h_n + c_n, alone_h + alone_c, strict=True):
            torch.testing.assert_close(ours[b : b + 1], theirs, **TOL)


def test_packed_sequence_with_variants_matches_lengths():
    torch.manual_seed(0)
    module = lstmkit.LSTM(3, 4, bidirectional=True, layer_norm=True, batch_first=True, dtype=DT)
    lengths = torch.tensor([2, 5, 3])
    x = torch.randn(3, 5, 3, dtype=DT)
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        x, lengths, batch_first=True, enforce_sorted=False
    )
    packed_output, (h_p, c_p) = module(packed)
    output, (h_n, c_n) = module(x, lengths=lengths)
    expected = torch.nn.utils.rnn.pack_padded_sequence(
        output, lengths, batch_first=True, enforce_sorted=False
    )
    assert torch.equal(packed_output.batch_sizes, expected.batch_sizes)
    assert packed_output.sorted_indices is packed.sorted_indices
    torch.testing.assert_close(packed_output.data, expected.data, **TOL)
    torch.testing.assert_close(h_p, h_n, **TOL)
    torch.testing.assert_close(c_p, c_n, **TOL)


def test_unbatched_input_with_variants_and_per_layer_sizes():
    torch.manual_seed(0)
    module = lstmkit.LSTM(3, [5, 4], bidirectional=True, peephole=True, dtype=DT)
    x = torch.randn(6, 3, dtype=DT)
    output, (h_n, c_n) = module(x)
    batched, (_, c_b) = module(x.unsqueeze(1))
    assert output.shape == (6, 8)
    assert [t.shape for t in h_n] == [(2, 5), (2, 4)]
    torch.testing.assert_close(output, batched[:, 0])
    torch.testing.assert_close(c_n[1], c_b[1][:, 0])


def test_inter_layer_dropout_between_variant_layers():
    torch.manual_seed(0)
    module = lstmkit.LSTM(3, 4, num_layers=2, dropout=1.0, layer_norm=True, dtype=DT)
    top = lstmkit.LSTM(4, 4, layer_norm=True, dtype=DT)
    top.load_state_dict(
        {k.replace("_l1", "_l0"): v for k, v in module.state_dict().items() if "_l1" in k}
    )
    x = torch.randn(5, 2, 3, dtype=DT)
    # dropout=1 zeroes the whole input of layer 1 in training, and nothing in evaluation.
    torch.testing.assert_close(module(x)[0], top(torch.zeros(5, 2, 4, dtype=DT))[0])
    module.eval()
    assert not torch.allclose(module(x)[0], top(torch.zeros(5, 2, 4, dtype=DT))[0])


@pytest.mark.parametrize("use_lengths", [False, True])
def test_float32_inference_computes_the_input_term_in_the_loop(use_lengths, spy):
    """Without gradients the C++ loop computes each step's input term itself (float32): the
    same outputs as the run that computes it first, for a stack of variant layers."""
    torch.manual_seed(0)
    module = lstmkit.LSTM(3, 4, **VARIANTS["everything_bidirectional_stacked"]).eval()
    x = torch.randn(6, 5, 3)
    lengths = torch.tensor([6, 2, 4, 1, 5]) if use_lengths else None
    with torch.no_grad():
        output, (h_n, c_n) = module(x, lengths=lengths)
    assert [call["w_ih"] is not None for call in spy.calls] == [True] * 4
    spy.calls.clear()
    expected, (h_e, c_e) = module(x, lengths=lengths)  # gradients enabled: input term first
    assert all("w_ih" not in call for call in spy.calls)
    for actual, wanted in ((output, expected), (h_n, h_e), (c_n, c_e)):
        torch.testing.assert_close(actual, wanted.detach(), rtol=1e-5, atol=1e-6)


def test_large_layers_compute_the_input_term_before_the_loop():
    """Past IN_LOOP_MAX_WEIGHT_BYTES one GEMM before the loop is faster: inference keeps it."""
    small, large = lstmkit.LSTM(256, 256, zoneout=0.1), lstmkit.LSTM(512, 512, zoneout=0.1)
    with torch.no_grad():
        assert lstmkit.recurrence.input_term_in_loop(torch.zeros(1, 1, 256), small._weights("_l0"))
        assert not lstmkit.recurrence.input_term_in_loop(
            torch.zeros(1, 1, 512), large._weights("_l0")
        )
