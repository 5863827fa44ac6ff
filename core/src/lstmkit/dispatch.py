"""Which engine computes each layer of an :class:`~lstmkit.LSTM` or :class:`~lstmkit.LSTMCell`.

Three engines compute a layer (both directions) or a cell step:

- :attr:`Engine.TORCH`: torch's own LSTM kernel, the one ``nn.LSTM`` and ``nn.LSTMCell`` run
  (``torch._VF.lstm``, ``torch._VF.lstm_cell``): oneDNN on CPU, cuDNN on CUDA. It computes
  the plain step only (with or without projection).
- :attr:`Engine.LSTMKIT_KERNEL`: lstmkit's own time loop with a hand-written backward,
  :func:`lstmkit.kernels.lstm_layer`: every variant and the masks of ``lengths``. Its backend
  is chosen per call by :func:`lstmkit.kernels.extension.kernels_for`: the C++ extension on
  CPU, Triton on CUDA, the PyTorch-op loops elsewhere or when neither is available.
- :attr:`Engine.REFERENCE`: the plain autograd loop
  :func:`lstmkit.reference.reference_lstm_layer`, the specification. It is the engine that
  records gates (``return_gates``) and the one that traces and exports (plain tensor ops,
  where lstmkit's kernel is a custom autograd Function).

A module decides when it is built, and again when it moves (``.to()``, ``.cuda()``: anything
that goes through ``_apply``), which engine each layer gets for each kind of call
(:class:`Call`), in training and in evaluation; :class:`DispatchPlan` holds the answer and
prints it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch


class Engine(enum.Enum):
    """What computes a layer; see the module docstring."""

    TORCH = "torch kernel"
    LSTMKIT_KERNEL = "lstmkit kernel"
    REFERENCE = "reference loop"


class Call(enum.Enum):
    """The kinds of forward call that can change the engine, most specific first."""

    GATES = "return_gates"  # return_gates=True: every layer records its gates
    EXPORT = "export"  # while tracing, scripting or exporting
    PACKED = "packed"  # a PackedSequence input (LSTM)
    LENGTHS = "lengths"  # a padded batch with lengths= (LSTM)
    AUTOCAST = "autocast"  # under torch.autocast (LSTMCell)
    DEFAULT = "default"  # every sequence runs all its steps (a cell: one step)


LSTM_CALLS = (Call.DEFAULT, Call.LENGTHS, Call.PACKED, Call.GATES, Call.EXPORT)
CELL_CALLS = (Call.DEFAULT, Call.AUTOCAST, Call.GATES, Call.EXPORT)


def is_exporting() -> bool:
    """True while TorchScript traces or scripts, ``torch.export`` runs or ONNX exports."""
    return (
        torch.jit.is_tracing()
        or torch.jit.is_scripting()
        or torch.onnx.is_in_onnx_export()
        or torch.compiler.is_exporting()
    )


def classify_call(
    *, gates: bool, packed: bool = False, lengths: bool = False, autocast: bool = False
) -> Call:
    """The kind of a forward call: with ``return_gates``, while exporting, with packed input,
    with ``lengths``, under autocast, else :attr:`Call.DEFAULT` (in that precedence)."""
    if gates:
        return Call.GATES
    if is_exporting():
        return Call.EXPORT
    if packed:
        return Call.PACKED
    if lengths:
        return Call.LENGTHS
    if autocast:
        return Call.AUTOCAST
    return Call.DEFAULT


@dataclass(frozen=True)
class DispatchPlan:
    """The engine of every layer for every kind of call, for one device type and mode.

    Attributes:
        device_type: the parameters' device type (``"cpu"``, ``"cuda"``, ...).
        training: the mode the plan is for.
        layers: one ``{call: engine}`` mapping per layer (one entry for a cell).
        stacked: the calls for which the whole stack is one call of torch's kernel, as in
            ``nn.LSTM`` (every layer plain, of one size, without residual connections).
    """

    device_type: str
    training: bool
    layers: tuple[Mapping[Call, Engine], ...]
    stacked: frozenset[Call] = frozenset()

    def engine(self, layer: int, call: Call) -> Engine:
        """The engine that computes ``layer`` in a call of kind ``call``."""
        return self.layers[layer][call]

    def engines(self, call: Call) -> list[Engine]:
        """Every layer's engine in a call of kind ``call``."""
        return [engines[call] for engines in self.layers]

    def __str__(self) -> str:
        mode = "training" if self.training else "evaluation"
        lines = [f"dispatch plan ({self.device_type}, {mode}):"]
        for layer, engines in enumerate(self.layers):
            entries = ", ".join(f"{call.value}: {engine.value}" for call, engine in engines.items())
            lines.append(f"  layer {layer}: {entries}")
        if self.stacked:
            calls = ", ".join(call.value for call in self.layers[0] if call in self.stacked)
            lines.append(f"  whole stack in one torch kernel call for: {calls}")
        return "\n".join(lines)


def plan_lstm(
    plain_layers: Sequence[bool], stackable: bool, device_type: str, training: bool
) -> DispatchPlan:
    """The plan of an :class:`~lstmkit.LSTM`.

    Args:
        plain_layers: per layer, whether its step is ``nn.LSTM``'s in this mode (no variant
            changes it; recurrent dropout alone does not in evaluation).
        stackable: every layer has one size and no residual connection, so a stack of plain
            layers can be one call of torch's kernel.
        device_type: the parameters' device type.
        training: the mode.

    A plain layer runs torch's kernel, a variant layer lstmkit's kernel. With ``lengths``,
    torch's CPU kernels have no fast packed path (oneDNN takes padded input only; packed input
    falls back to per-step autograd ops, far slower to train), so off CUDA plain layers run
    lstmkit's masked loop instead. A ``PackedSequence`` runs torch's packed kernel when the
    whole stack can (as ``nn.LSTM``), else it is unpacked and runs as with ``lengths``. While
    exporting, plain layers stay on torch's kernel, which exports as one ONNX ``LSTM`` node
    (with ``sequence_lens`` for lengths) of any length, and the variant layers run the
    reference loop. ``return_gates`` runs every layer on the reference loop.
    """
    stack_on_torch = stackable and all(plain_layers)
    layers = []
    for plain in plain_layers:
        step = Engine.TORCH if plain else Engine.LSTMKIT_KERNEL
        masked = Engine.TORCH if plain and device_type == "cuda" else Engine.LSTMKIT_KERNEL
        engines = {
            Call.DEFAULT: step,
            Call.LENGTHS: masked,
            Call.PACKED: Engine.TORCH if stack_on_torch else masked,
            Call.GATES: Engine.REFERENCE,
            Call.EXPORT: Engine.TORCH if plain else Engine.REFERENCE,
        }
        layers.append({call: engines[call] for call in LSTM_CALLS})
    stacked = frozenset(
        call
        for call in LSTM_CALLS
        if stack_on_torch and all(e[call] is Engine.TORCH for e in layers)
    )
    return DispatchPlan(device_type, training, tuple(layers), stacked)


def plan_cell(plain: bool, device_type: str, training: bool) -> DispatchPlan:
    """The plan of an :class:`~lstmkit.LSTMCell` (``plain``: its step is ``nn.LSTMCell``'s).

    A plain cell runs torch's cell kernel, a variant cell lstmkit's kernel for one step. Under
    autocast every cell runs lstmkit's kernel, which keeps the state in float32 (torch's cell
    kernel would round it to the autocast dtype on CUDA). While exporting a plain cell stays
    on torch's kernel and a variant cell runs the reference loop, which also records the gates
    for ``return_gates``.
    """
    engines = {
        Call.DEFAULT: Engine.TORCH if plain else Engine.LSTMKIT_KERNEL,
        Call.AUTOCAST: Engine.LSTMKIT_KERNEL,
        Call.GATES: Engine.REFERENCE,
        Call.EXPORT: Engine.TORCH if plain else Engine.REFERENCE,
    }
    return DispatchPlan(device_type, training, (engines,))
