"""Gate traces of lstmkit.LSTM / LSTMCell against the step equations written out (float64).

The expected gates come from a per-sequence, per-step loop over the module's parameters,
written independently of the library (no masks, no batching, explicit reversal).
"""

import pytest
import torch
import torch.nn.functional as F

import lstmkit
import lstmkit.recurrence
from lstmkit import GateTrace, record_gates
from tests.core.test_lstm_variants import VARIANTS as STACKED_VARIANTS

DT = torch.float64
TOL = {"rtol": 1e-9, "atol": 1e-9}


def step_equations(params, variants, x_t, h, c):
    """One step of the LSTM written out; returns (i, f, g, o, c_t, h_t)."""
    hidden = params["weight_hh"].shape[0] // 4

    def norm(v, part):
        if not variants.layer_norm:
            return v
        return F.layer_norm(v, v.shape, params[f"ln_weight_{part}"], params[f"ln_bias_{part}"])

    a = norm(params["weight_ih"] @ x_t, "ih") + norm(params["weight_hh"] @ h, "hh")
    a = a + params["bias_ih"] + params["bias_hh"]
    a_i, a_f, a_g, a_o = a.split(hidden)
    peep = params.get("weight_peephole")
    if peep is not None:
        a_i, a_f = a_i + peep[0] * c, a_f + peep[1] * c
    i, f, g = torch.sigmoid(a_i), torch.sigmoid(a_f), torch.tanh(a_g)
    c_new = f * c + i * g
    if peep is not None:
        a_o = a_o + peep[2] * c_new
    o = torch.sigmoid(a_o)
    h_new = o * torch.tanh(norm(c_new, "c"))
    if "weight_hr" in params:
        h_new = params["weight_hr"] @ h_new
    z = variants.zoneout  # evaluation: the expectation
    return i, f, g, o, z * c + (1 - z) * c_new, z * h + (1 - z) * h_new


def expected_gates(module, x, lengths):
    """Gates ``[layer][direction]`` as GateTraces (B, T, H) and the output, x is (B, T, I)."""
    batch, steps = x.shape[:2]
    traces = []
    outputs = torch.zeros(batch, steps, module.output_size, dtype=DT)
    per_sequence_inputs = [x[b, : int(lengths[b])] for b in range(batch)]
    for layer in range(module.num_layers):
        hidden = module.hidden_sizes[layer]
        layer_traces = []
        layer_outputs = [[] for _ in range(batch)]
        for direction in range(module.num_directions):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            params = {
                name[: -len(suffix)]: p
                for name, p in module.named_parameters()
                if name.endswith(suffix)
            }
            fields = torch.zeros(5, batch, steps, hidden, dtype=DT)
            for b, seq in enumerate(per_sequence_inputs):
                n = seq.shape[0]
                h = torch.zeros(params["weight_hh"].shape[1], dtype=DT)
                c = torch.zeros(hidden, dtype=DT)
                hs = []
                for t in range(n):
                    position = n - 1 - t if direction else t
                    *gates, c, h = step_equations(
                        params, module.layer_variants[layer], seq[position], h, c
                    )
                    fields[:, b, position] = torch.stack([*gates, c])
                    hs.append(h)
                out = torch.stack(hs)
                layer_outputs[b].append(out.flip(0) if direction else out)
            layer_traces.append(GateTrace(*fields))
        traces.append(layer_traces)
        new_inputs = [torch.cat(o, dim=-1) for o in layer_outputs]
        if module.residual[layer]:
            new_inputs = [o + s for o, s in zip(new_inputs, per_sequence_inputs, strict=True)]
        per_sequence_inputs = new_inputs
    for b, seq in enumerate(per_sequence_inputs):
        outputs[b, : seq.shape[0]] = seq
    return traces, outputs


VARIANTS = {
    "plain": {},
    "layer_norm": {"layer_norm": True},
    "peephole": {"peephole": True},
    "projection": {"proj_size": 2},
    "recurrent_dropout": {"recurrent_dropout": 0.3},
    "zoneout": {"zoneout": 0.25},
    "residual": {"num_layers": 2, "hidden_size": 3, "residual": True},
    "per_layer_widths": {"hidden_size": [5, 3]},
    "bidirectional_everything": STACKED_VARIANTS["everything_bidirectional_stacked"],
}


def make_lstm(**kwargs):
    torch.manual_seed(0)
    options = {"input_size": 3, "hidden_size": 4, "batch_first": True} | kwargs
    module = lstmkit.LSTM(dtype=DT, **options).eval()
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return module


@pytest.mark.parametrize("name", VARIANTS)
def test_traces_equal_the_step_equations(name):
    module = make_lstm(**VARIANTS[name])
    x = torch.randn(3, 6, 3, dtype=DT)
    lengths = torch.tensor([6, 2, 4])
    output, _, gates = module(x, lengths=lengths, return_gates=True)
    expected, expected_output = expected_gates(module, x, lengths)
    assert len(gates) == module.num_layers
    for layer, expected_layer in zip(gates, expected, strict=True):
        assert len(layer) == module.num_directions
        for trace, reference in zip(layer, expected_layer, strict=True):
            for actual, wanted in zip(trace, reference, strict=True):
                torch.testing.assert_close(actual, wanted, **TOL)
    torch.testing.assert_close(output, expected_output, **TOL)


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("training", [False, True])
def test_traced_run_gives_the_normal_outputs(name, training):
    module = make_lstm(**VARIANTS[name]).train(training)
    x = torch.randn(3, 6, 3, dtype=DT)
    lengths = torch.tensor([6, 2, 4])
    for run_lengths in (None, lengths):
        torch.manual_seed(1)
        output, (h_n, c_n) = module(x, lengths=run_lengths)
        torch.manual_seed(1)  # the same recurrent-dropout and zoneout draws
        traced, (traced_h, traced_c), _ = module(x, lengths=run_lengths, return_gates=True)
        torch.testing.assert_close(traced, output, **TOL)
        for actual, wanted in ((traced_h, h_n), (traced_c, c_n)):
            for a, w in zip(actual, wanted, strict=True):
                torch.testing.assert_close(a, w, **TOL)


@pytest.mark.parametrize("batch_first", [True, False])
def test_trace_shapes_and_zeros_past_each_length(batch_first):
    module = make_lstm(hidden_size=[5, 3], bidirectional=True, batch_first=batch_first)
    lengths = torch.tensor([7, 3, 5])
    x = torch.randn(3, 7, 3, dtype=DT)
    _, _, gates = module(
        x if batch_first else x.transpose(0, 1), lengths=lengths, return_gates=True
    )
    for hidden, layer in zip([5, 3], gates, strict=True):
        for trace in layer:
            for field in trace:
                batch_major = field if batch_first else field.transpose(0, 1)
                assert batch_major.shape == (3, 7, hidden)
                for b, n in enumerate(lengths.tolist()):
                    assert batch_major[b, n:].abs().sum() == 0
                    # sigmoid gates are never exactly zero on real steps
                    assert (batch_major[b, :n] != 0).any(dim=-1).all()


def test_unbatched_input_gives_unbatched_traces():
    module = make_lstm(num_layers=2)
    x = torch.randn(6, 3, dtype=DT)
    output, _, gates = module(x, return_gates=True)
    _, _, batched = module(x[None], return_gates=True)
    assert output.shape == (6, 4)
    for trace, batched_trace in zip(gates[1], batched[1], strict=True):
        torch.testing.assert_close(trace.f, batched_trace.f[0])


def test_packed_input_with_return_gates_is_refused():
    module = make_lstm()
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        torch.randn(2, 4, 3, dtype=DT), [4, 2], batch_first=True
    )
    with pytest.raises(ValueError, match="pass lengths="):
        module(packed, return_gates=True)


class NoReferenceLoop:
    def __call__(self, *args, **kwargs):
        raise AssertionError("the reference loop ran without return_gates")


@pytest.mark.parametrize("name", ["plain", "layer_norm", "bidirectional_everything"])
def test_without_return_gates_the_fast_paths_run_bit_identically(name, monkeypatch):
    module = make_lstm(**VARIANTS[name])
    x = torch.randn(3, 6, 3, dtype=DT)
    lengths = torch.tensor([6, 2, 4])
    for run_lengths in (None, lengths):
        output, (h_n, c_n) = module(x, lengths=run_lengths)
        monkeypatch.setattr(lstmkit.recurrence, "reference_with_input_norm", NoReferenceLoop())
        again, (h_again, c_again) = module(x, lengths=run_lengths, return_gates=False)
        monkeypatch.undo()
        assert torch.equal(again, output)
        assert torch.equal(h_again, h_n) and torch.equal(c_again, c_n)
    if name == "plain":
        reference = torch.nn.LSTM(3, 4, batch_first=True, dtype=DT)
        reference.load_state_dict(module.state_dict())
        assert torch.equal(module(x, return_gates=False)[0], reference(x)[0])


@pytest.mark.parametrize("kwargs", [{}, {"layer_norm": True}, {"peephole": True}, {"zoneout": 0.3}])
def test_cell_gates_equal_the_step_equations(kwargs):
    torch.manual_seed(0)
    cell = lstmkit.LSTMCell(3, 4, dtype=DT, **kwargs).eval()
    x, h, c = (torch.randn(2, n, dtype=DT) for n in (3, 4, 4))
    (h_new, c_new), trace = cell(x, (h, c), return_gates=True)
    params = dict(cell.named_parameters())
    for b in range(2):
        *gates, c_t, h_t = step_equations(params, cell.variants, x[b], h[b], c[b])
        for field, wanted in zip(trace, [*gates, c_t], strict=True):
            torch.testing.assert_close(field[b], wanted, **TOL)
        torch.testing.assert_close(h_new[b], h_t, **TOL)
        torch.testing.assert_close(c_new[b], c_t, **TOL)
    assert torch.equal(cell(x, (h, c), return_gates=False)[0], cell(x, (h, c))[0])


def test_unbatched_cell_trace():
    cell = lstmkit.LSTMCell(3, 4, dtype=DT)
    (h, _), trace = cell(torch.randn(3, dtype=DT), return_gates=True)
    assert h.shape == (4,) and all(field.shape == (4,) for field in trace)


class Tagger(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = lstmkit.LSTM(3, 4, num_layers=2, batch_first=True, dtype=DT)
        self.cell = lstmkit.LSTMCell(4, 4, dtype=DT)

    def forward(self, x, lengths):
        out, _ = self.encoder(x, lengths=lengths)
        h, c = self.cell(out[:, 0])
        return self.cell(out[:, 1], (h, c))[0]


def test_record_gates_keeps_every_call_and_restores_the_modules():
    torch.manual_seed(0)
    model = Tagger()
    x, lengths = torch.randn(2, 5, 3, dtype=DT), torch.tensor([5, 3])
    expected = model(x, lengths)
    with record_gates(model) as recording:
        output = model(x, lengths)
    torch.testing.assert_close(output, expected, **TOL)
    assert set(recording) == {"encoder", "cell"}
    (encoder_gates,) = recording["encoder"]
    assert len(encoder_gates) == 2 and encoder_gates[1][0].f.shape == (2, 5, 4)
    assert [t.c.shape for t in recording["cell"]] == [(2, 4), (2, 4)]
    assert "forward" not in vars(model.encoder) and "forward" not in vars(model.cell)
