"""Record the gates of every LSTM inside a model while it runs unchanged code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

from lstmkit.cell import LSTMCell
from lstmkit.lstm import LSTM


@contextmanager
def record_gates(model: nn.Module) -> Iterator[dict[str, list]]:
    """Within the block, every :class:`~lstmkit.LSTM` and :class:`~lstmkit.LSTMCell` in
    ``model`` runs with ``return_gates=True`` and keeps its traces; the model's own code and
    outputs stay as they are (up to the rounding of the reference loop).

    Yields ``{submodule name: [gates of each call, in call order]}``: an LSTM call adds its
    ``gates`` list (``gates[layer][direction]``, see :class:`~lstmkit.LSTM`), a cell call
    one :class:`~lstmkit.GateTrace` of ``(B, H)`` fields.

    Example::

        with record_gates(model) as recording:
            model(batch)
        forward_gates_of_last_layer = recording["encoder"][0][-1][0]
    """
    recording: dict[str, list] = {}
    lstms = [(n, m) for n, m in model.named_modules() if isinstance(m, LSTM | LSTMCell)]
    for name, lstm in lstms:
        recording[name] = []
        lstm.forward = _recording_forward(lstm, recording[name])
    try:
        yield recording
    finally:
        for _, lstm in lstms:
            del lstm.forward


def _recording_forward(lstm: LSTM | LSTMCell, calls: list):
    """``lstm``'s forward with ``return_gates=True`` that stores the gates and returns the rest."""

    def forward(*args, **kwargs):
        *outputs, gates = type(lstm).forward(lstm, *args, return_gates=True, **kwargs)
        calls.append(gates)
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    return forward
