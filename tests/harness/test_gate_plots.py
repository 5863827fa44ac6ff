"""The shared gate figure, the raw traces and the recorded layers of a model."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

import lstmkit
from tasks.harness.gate_plots import (
    GateFigureWriter,
    GateView,
    draw_spectrogram,
    draw_tokens,
    most_active_units,
    pick_layer,
    recorded_layers,
)
from tests.harness.gate_outputs import check_gate_outputs


class Encoder(torch.nn.Module):
    """A time-major BiLSTM of two layers and a cell run over its output."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = lstmkit.LSTM(3, 5, num_layers=2, bidirectional=True)
        self.cell = lstmkit.LSTMCell(10, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x, lengths=torch.tensor([6, 4]))
        h, c = self.cell(out[0])
        return self.cell(out[1], (h, c))[0]


def test_recorded_layers_pick_one_item_of_time_major_lstms_and_cells() -> None:
    torch.manual_seed(0)
    model = Encoder().eval()
    x = torch.randn(6, 2, 3)
    with lstmkit.record_gates(model) as recording:
        model(x)
    layers = recorded_layers(model, recording, item=1)
    assert [len(layer) for layer in layers] == [2, 2, 1]
    _, _, gates = model.lstm(x, lengths=torch.tensor([6, 4]), return_gates=True)
    np.testing.assert_allclose(layers[1][1].f, gates[1][1].f[:, 1].detach().numpy(), rtol=1e-6)
    assert layers[1][0].f[4:].max() == 0  # item 1 has 4 steps
    assert layers[2][0].c.shape == (2, 4)  # two cell steps


def synthetic_view(steps: int = 12) -> GateView:
    torch.manual_seed(0)
    lstm = lstmkit.LSTM(3, 6, num_layers=2, bidirectional=True, batch_first=True).eval()
    with torch.no_grad():
        _, _, gates = lstm(torch.randn(1, steps, 3), return_gates=True)
    layers = [[t.map(lambda v: v[0].numpy()) for t in layer] for layer in gates]
    labels = list("hello world!")[:steps]
    return GateView(
        layers=layers,
        draw_input=partial(draw_tokens, tokens=labels, title="characters"),
        extent=(0.0, float(steps)),
        x_label="character",
        title="synthetic",
        step_labels=labels,
        input_height=1.2,
    )


def test_writer_saves_figure_and_traces_with_numbered_names(tmp_path: Path) -> None:
    view = synthetic_view()

    class Module:
        def gate_view(self, record):
            return view

    writer = GateFigureWriter(Module(), tmp_path / "gates", layer=-1, units=4)
    first = writer({"input": "some text, with punctuation"})
    second = writer({"input": "/data/clip 01.flac"})
    check_gate_outputs(first, layers=2, directions=2, steps=12)
    assert Path(first["gates"]["figure"]).name == "0000-some_text_with_punctuation.png"
    assert Path(second["gates"]["traces"]).name == "0001-clip_01.npz"


def test_layer_out_of_range_is_a_clear_error() -> None:
    view = synthetic_view()
    assert pick_layer(view, -1) == 1 and pick_layer(view, 0) == 0
    with pytest.raises(ValueError, match=r"gates_layer=2 but the model has 2 LSTM layers"):
        pick_layer(view, 2)


def test_most_active_units_are_those_whose_cell_varies_most() -> None:
    view = synthetic_view()
    trace = view.layers[0][0]
    chosen = most_active_units(trace, 2)
    spread = trace.c.var(axis=0)
    assert set(chosen) == set(np.argsort(spread)[-2:])


def test_spectrogram_panel_marks_each_word(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots()
    words = [{"word": "yes", "start": 0.1, "end": 0.4}, {"word": "no", "start": 0.5, "end": 0.7}]
    draw_spectrogram(ax, np.random.default_rng(0).normal(size=(80, 20)), 0.8, words)
    assert [t.get_text() for t in ax.texts] == ["yes", "no"]
    assert len(ax.lines) == 4  # a start and an end line per word
    plt.close(figure)


def test_writer_skips_records_that_report_an_error(tmp_path: Path) -> None:
    writer = GateFigureWriter(None, tmp_path, layer=-1, units=4)
    assert writer({"input": "broken.wav", "error": "cannot decode"}) == {}
    assert not any(tmp_path.iterdir())
