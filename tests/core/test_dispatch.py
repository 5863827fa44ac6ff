"""The dispatch plan: which engine each configuration gets, and that this engine is what runs."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import lstmkit.cell
import lstmkit.lstm
import lstmkit.recurrence
from lstmkit import LSTM, LSTMCell
from lstmkit.dispatch import Call, Engine, plan_lstm

TORCH, KERNEL, REFERENCE = Engine.TORCH, Engine.LSTMKIT_KERNEL, Engine.REFERENCE
VARIANTS = [
    {"layer_norm": True},
    {"peephole": True},
    {"recurrent_dropout": 0.25},
    {"zoneout": 0.1},
]


def engines(module: LSTM) -> dict[Call, list[Engine]]:
    plan = module.dispatch_plan()
    return {call: plan.engines(call) for call in plan.layers[0]}


def test_plain_lstm_on_cpu() -> None:
    lstm = LSTM(4, 8, num_layers=2)
    assert engines(lstm) == {
        Call.DEFAULT: [TORCH, TORCH],
        Call.LENGTHS: [KERNEL, KERNEL],  # the masked loop: no fast packed CPU kernel
        Call.PACKED: [TORCH, TORCH],
        Call.GATES: [REFERENCE, REFERENCE],
        Call.EXPORT: [TORCH, TORCH],
    }
    assert lstm.dispatch_plan().stacked == {Call.DEFAULT, Call.PACKED, Call.EXPORT}


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: next(iter(v)))
def test_each_variant_runs_lstmkit_kernel_and_the_reference_loop_to_export(variant) -> None:
    lstm = LSTM(4, 8, **variant).train()
    assert engines(lstm) == {
        Call.DEFAULT: [KERNEL],
        Call.LENGTHS: [KERNEL],
        Call.PACKED: [KERNEL],
        Call.GATES: [REFERENCE],
        Call.EXPORT: [REFERENCE],
    }
    assert not lstm.dispatch_plan().stacked


def test_evaluation_runs_recurrent_dropout_alone_on_torch_kernel() -> None:
    """In evaluation recurrent dropout is the identity: such layers are plain layers there."""
    lstm = LSTM(4, 8, num_layers=2, recurrent_dropout=0.25).eval()
    assert engines(lstm)[Call.DEFAULT] == [TORCH, TORCH]
    assert lstm.dispatch_plan().stacked == {Call.DEFAULT, Call.PACKED, Call.EXPORT}
    assert engines(lstm.train())[Call.DEFAULT] == [KERNEL, KERNEL]
    for variant in ({"zoneout": 0.1}, {"recurrent_dropout": 0.25, "peephole": True}):
        assert engines(LSTM(4, 8, **variant).eval())[Call.DEFAULT] == [KERNEL]
    x = torch.randn(5, 3, 4)
    reference = torch.nn.LSTM(4, 8, num_layers=2).eval()
    reference.load_state_dict(lstm.state_dict())
    with torch.no_grad():
        assert torch.equal(lstm.eval()(x)[0], reference(x)[0])


def test_mixed_stack_plans_each_layer_and_never_stacks() -> None:
    lstm = LSTM(4, 8, num_layers=3, zoneout=[0.0, 0.2, 0.0])
    assert engines(lstm)[Call.DEFAULT] == [TORCH, KERNEL, TORCH]
    assert engines(lstm)[Call.EXPORT] == [TORCH, REFERENCE, TORCH]
    assert engines(lstm)[Call.PACKED] == [KERNEL, KERNEL, KERNEL]
    assert not lstm.dispatch_plan().stacked
    # A plain stack that cannot be one kernel call (residual, per-layer sizes) keeps torch's
    # kernel per layer.
    for options in ({"num_layers": 2, "residual": True}, {"hidden_size": [8, 6]}):
        lstm = LSTM(**({"input_size": 4, "hidden_size": 8} | options))
        assert engines(lstm)[Call.DEFAULT] == [TORCH, TORCH]
        assert not lstm.dispatch_plan().stacked


def test_cuda_keeps_plain_layers_with_lengths_on_torch_kernel() -> None:
    plan = plan_lstm([True, True], stackable=True, device_type="cuda", training=True)
    assert plan.engines(Call.LENGTHS) == [TORCH, TORCH]
    assert Call.LENGTHS in plan.stacked
    plan = plan_lstm([True, False], stackable=True, device_type="cuda", training=True)
    assert plan.engines(Call.LENGTHS) == [TORCH, KERNEL]


def test_cell_plans() -> None:
    plain, variant = LSTMCell(4, 8), LSTMCell(4, 8, peephole=True)
    assert plain.dispatch_plan().layers == (
        {Call.DEFAULT: TORCH, Call.AUTOCAST: KERNEL, Call.GATES: REFERENCE, Call.EXPORT: TORCH},
    )
    assert variant.dispatch_plan().layers == (
        {
            Call.DEFAULT: KERNEL,
            Call.AUTOCAST: KERNEL,
            Call.GATES: REFERENCE,
            Call.EXPORT: REFERENCE,
        },
    )


def test_plan_follows_the_parameters_device_and_mode() -> None:
    lstm = LSTM(4, 8, peephole=True)
    assert lstm.dispatch_plan().device_type == "cpu"
    assert lstm.dispatch_plan().training and not lstm.eval().dispatch_plan().training
    lstm.to("meta")
    assert lstm.dispatch_plan().device_type == "meta"


def test_plan_prints_every_layer_and_call() -> None:
    text = str(LSTM(4, 8, num_layers=2, peephole=[False, True]).dispatch_plan())
    assert text.splitlines() == [
        "dispatch plan (cpu, training):",
        "  layer 0: default: torch kernel, lengths: lstmkit kernel, packed: lstmkit kernel, "
        "return_gates: reference loop, export: torch kernel",
        "  layer 1: default: lstmkit kernel, lengths: lstmkit kernel, packed: lstmkit kernel, "
        "return_gates: reference loop, export: reference loop",
    ]


class EngineSpy:
    """Records which engine runs each layer-direction (or each whole-stack torch call)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[Engine] = []
        for module, name, engine in (
            (lstmkit.recurrence, "lstm_layer", KERNEL),
            (lstmkit.recurrence, "reference_with_input_norm", REFERENCE),
        ):
            monkeypatch.setattr(module, name, self._wrap(getattr(module, name), engine))
        torch_vf = lstmkit.lstm._VF

        class VF:
            lstm = staticmethod(self._wrap(torch_vf.lstm, TORCH))
            lstm_cell = staticmethod(self._wrap(torch_vf.lstm_cell, TORCH))

        monkeypatch.setattr(lstmkit.lstm, "_VF", VF)
        monkeypatch.setattr(lstmkit.cell, "_VF", VF)

    def _wrap(self, function, engine: Engine):
        def spy(*args, **kwargs):
            self.calls.append(engine)
            return function(*args, **kwargs)

        return spy


CONFIGURATIONS = [  # (options, call, engines run: one per direction, one per torch call)
    ({}, Call.DEFAULT, [TORCH]),
    ({"num_layers": 2}, Call.LENGTHS, [KERNEL, KERNEL]),
    ({"num_layers": 2}, Call.PACKED, [TORCH]),
    ({"num_layers": 2}, Call.GATES, [REFERENCE, REFERENCE]),
    ({"num_layers": 2}, Call.EXPORT, [TORCH]),
    ({"num_layers": 2, "residual": True}, Call.DEFAULT, [TORCH, TORCH]),
    ({"layer_norm": True, "bidirectional": True}, Call.DEFAULT, [KERNEL, KERNEL]),
    ({"peephole": True}, Call.PACKED, [KERNEL]),
    ({"zoneout": [0.0, 0.1], "num_layers": 2}, Call.EXPORT, [TORCH, REFERENCE]),
    ({"recurrent_dropout": 0.2}, Call.LENGTHS, [KERNEL]),
]


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("options, call, expected", CONFIGURATIONS)
def test_the_planned_engines_run(options, call, expected, monkeypatch) -> None:
    lstm = LSTM(**({"input_size": 4, "hidden_size": 8} | options)).eval()
    planned = lstm.dispatch_plan().engines(call)
    x = torch.randn(5, 3, 4)
    lengths = torch.tensor([5, 2, 4])
    spy = EngineSpy(monkeypatch)
    if call is Call.EXPORT:
        torch.jit.trace(lstm, (x,), check_trace=False)
    elif call is Call.PACKED:
        lstm(pack_padded_sequence(x, lengths, enforce_sorted=False))
    else:
        lstm(x, lengths=lengths if call is Call.LENGTHS else None, return_gates=call is Call.GATES)
    assert spy.calls == expected
    assert set(spy.calls) == set(planned)


@pytest.mark.parametrize("options", [{}, {"layer_norm": True}])
def test_the_planned_cell_engines_run(options, monkeypatch) -> None:
    cell = LSTMCell(4, 8, **options)
    plan = cell.dispatch_plan()
    x = torch.randn(3, 4)
    spy = EngineSpy(monkeypatch)
    cell(x)
    cell(x, return_gates=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cell(x)
    assert spy.calls == [plan.engine(0, call) for call in (Call.DEFAULT, Call.GATES, Call.AUTOCAST)]
