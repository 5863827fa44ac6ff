"""Gate figures: what an LSTM layer's gates did over one input, drawn under the input itself.

A task describes one predicted input as a :class:`GateView` (the traces of every LSTM layer
and a function drawing the input: spectrogram, characters, words); this module draws
the chosen layer's gates under it and saves the raw traces. The figure, top to bottom:

1. the task's input panel, over the same x axis as the steps;
2. the mean over units of the input, forget and output gates ``i_t, f_t, o_t`` per step
   (``f`` near 1: the cell keeps its memory; ``i`` near 1: it writes the candidate);
3. the forget gate of the ``units`` most active units (largest variance of ``c_t``);
4. their cell state ``c_t``.

Panels 3-4 show the forward direction; panel 2 shows both (backward dashed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from torch import nn

from lstmkit import GateTrace

DIRECTIONS = ("forward", "backward")
SUMMARY_GATES = (("f", "forget f", "tab:blue"), ("i", "input i", "tab:orange"))
SUMMARY_GATES += (("o", "output o", "tab:green"),)


@dataclass
class GateView:
    """One input as the gate figure shows it.

    Attributes:
        layers: ``layers[k][d]``: the trace of LSTM layer ``k`` (counted over the whole
            model, bottom first), direction ``d``, each field ``(T_k, H_k)``.
        draw_input: draws the input into the top panel, in the x units of ``extent``.
        extent: ``(start, end)`` of the x axis; layer ``k``'s ``T_k`` steps split it evenly.
        x_label: the x axis' name, e.g. ``"time (s)"``.
        title: the figure title (the input's name and the prediction).
        step_labels: per-step tick labels (characters, words) of every layer with one step
            per label, else None.
        input_height: the input panel's height relative to a gate panel's (about 2).
    """

    layers: list[list[GateTrace]]
    draw_input: Callable[[Axes], None]
    extent: tuple[float, float]
    x_label: str
    title: str
    step_labels: Sequence[str] | None = None
    input_height: float = 3.0


def pick_layer(view: GateView, layer: int) -> int:
    """``layer`` as a non-negative index (``-1`` is the last); a clear error when out of range."""
    count = len(view.layers)
    if not -count <= layer < count:
        raise ValueError(
            f"gates_layer={layer} but the model has {count} LSTM layers (0..{count - 1})"
        )
    return layer % count


def most_active_units(trace: GateTrace, units: int) -> np.ndarray:
    """Indices of the ``units`` units whose cell state varies most over time, ascending."""
    spread = np.asarray(trace.c).var(axis=0)
    return np.sort(np.argsort(spread)[::-1][:units])


def save_gate_figure(view: GateView, layer: int, units: int, path: Path) -> Path:
    """Draw layer ``layer`` of ``view`` (see the module docstring) into the PNG ``path``."""
    layer = pick_layer(view, layer)
    traces = view.layers[layer]
    forward = traces[0]
    steps, hidden = np.asarray(forward.f).shape
    start, end = view.extent
    width = (end - start) / steps
    centres = start + width * (np.arange(steps) + 0.5)
    chosen = most_active_units(forward, min(units, hidden))
    figure, axes = plt.subplots(
        4,
        2,
        figsize=(max(8.0, min(20.0, 0.25 * steps + 4)), 6.5 + view.input_height * 0.8),
        sharex="col",
        gridspec_kw={"width_ratios": [40, 1], "height_ratios": [view.input_height, 2, 2.2, 2.2]},
        squeeze=False,
    )
    panels, bars = axes[:, 0], axes[:, 1]
    view.draw_input(panels[0])
    bars[0].axis("off")
    bars[1].axis("off")
    for direction, trace in enumerate(traces):
        for field, name, colour in SUMMARY_GATES:
            panels[1].plot(
                centres,
                np.asarray(getattr(trace, field)).mean(axis=1),
                color=colour,
                linestyle="-" if direction == 0 else "--",
                label=f"{name} ({DIRECTIONS[direction]})" if len(traces) > 1 else name,
            )
    panels[1].set(ylim=(0, 1), ylabel="mean over units")
    panels[1].set_title(f"LSTM layer {layer}: gates averaged over its {hidden} units", fontsize=10)
    panels[1].legend(fontsize=7, ncol=len(traces), loc="best", framealpha=0.8)
    heat = {"extent": (start, end, len(chosen), 0), "aspect": "auto", "interpolation": "nearest"}
    forget = panels[2].imshow(
        np.asarray(forward.f)[:, chosen].T, cmap="viridis", vmin=0, vmax=1, **heat
    )
    figure.colorbar(forget, cax=bars[2], label="f")
    cell = np.asarray(forward.c)[:, chosen].T
    bound = max(float(np.abs(cell).max()), 1e-6)
    cell_image = panels[3].imshow(cell, cmap="RdBu_r", vmin=-bound, vmax=bound, **heat)
    figure.colorbar(cell_image, cax=bars[3], label="c")
    direction = " (forward direction)" if len(traces) > 1 else ""
    for panel, what in ((panels[2], "forget gate f"), (panels[3], "cell state c")):
        panel.set_title(f"{what} of the {len(chosen)} most active units{direction}", fontsize=10)
        panel.set_ylabel("unit")
        every = -(-len(chosen) // 8)  # at most 8 labels, so they stay legible
        rows = np.arange(0, len(chosen), every)
        panel.set_yticks(rows + 0.5, [str(chosen[r]) for r in rows], fontsize=7)
    if view.step_labels is not None and len(view.step_labels) == steps:
        short = all(len(label) <= 2 for label in view.step_labels)
        panels[3].set_xticks(centres, view.step_labels, fontsize=8, rotation=0 if short else 60)
    panels[3].set_xlabel(view.x_label)
    panels[0].set_xlim(start, end)
    figure.suptitle(view.title, fontsize=11)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def save_gate_traces(view: GateView, path: Path) -> Path:
    """All layers' traces as ``.npz``: ``l{k}_{forward|backward}_{i,f,g,o,c}``, each ``(T_k, H_k)``."""
    arrays = {
        f"l{layer}_{DIRECTIONS[direction]}_{field}": np.asarray(values)
        for layer, traces in enumerate(view.layers)
        for direction, trace in enumerate(traces)
        for field, values in trace._asdict().items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def draw_spectrogram(
    ax: Axes,
    features: np.ndarray,
    seconds: float,
    words: Sequence[dict] = (),
) -> None:
    """Log-mel ``features (T, F)`` over ``[0, seconds]``, with word spans
    (``{"word", "start", "end"}``) marked and labelled."""
    ax.imshow(
        features.T,
        origin="lower",
        aspect="auto",
        cmap="magma",
        extent=(0, seconds, 0, features.shape[1]),
        interpolation="nearest",
    )
    ax.set_ylabel("mel bin")
    for word in words:
        for edge in (word["start"], word["end"]):
            ax.axvline(edge, color="white", linewidth=0.8, alpha=0.8)
        ax.text(
            (word["start"] + word["end"]) / 2,
            features.shape[1] * 0.92,
            word["word"],
            color="white",
            ha="center",
            va="top",
            fontsize=9,
            bbox={"facecolor": "black", "alpha": 0.5, "pad": 1, "edgecolor": "none"},
        )
    ax.set_title("log-mel spectrogram" + (" and word timings" if words else ""), fontsize=10)


def draw_tokens(ax: Axes, tokens: Sequence[str], title: str) -> None:
    """``tokens`` (characters, words) one per unit-wide step of ``[0, len(tokens)]``."""
    for position, token in enumerate(tokens):
        ax.text(
            position + 0.5,
            0.5,
            token if token.strip() else "\u2423",
            ha="center",
            va="center",
            fontsize=10,
            family="monospace",
        )
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)


def recorded_layers(
    model: nn.Module, recording: dict[str, list], item: int = 0
) -> list[list[GateTrace]]:
    """The gate traces of batch item ``item`` from :func:`lstmkit.record_gates`, one entry per
    layer (bottom first, in the order the LSTMs ran), each direction's fields ``(T, H)`` numpy.

    A cell's calls are its steps, stacked into one single-direction layer.
    """
    layers = []
    for name, calls in recording.items():
        if not calls:
            continue
        if isinstance(calls[0], GateTrace):  # an LSTMCell: one (B, H) trace per step
            steps = GateTrace(*(torch.stack(fields, dim=1) for fields in zip(*calls, strict=True)))
            layers.append([steps.map(partial(_item_as_numpy, item=item))])
            continue
        pick = partial(_item_as_numpy, item=item, batch_first=model.get_submodule(name).batch_first)
        layers += [[trace.map(pick) for trace in traces] for call in calls for traces in call]
    return layers


def _item_as_numpy(tensor: torch.Tensor, item: int, batch_first: bool = True) -> np.ndarray:
    """Batch item ``item`` of ``tensor`` as float32 numpy."""
    return (tensor[item] if batch_first else tensor[:, item]).detach().float().cpu().numpy()


class GateFigureWriter:
    """Per predicted record: ``<folder>/<nnnn>-<name>.png`` (:func:`save_gate_figure`) and
    ``.npz`` (:func:`save_gate_traces`), from the task module's :meth:`gate_view`.

    Args:
        module: a task module implementing ``gate_view(record) -> GateView``.
        folder: where the files go.
        layer: the LSTM layer drawn (counted over the whole model, bottom first; ``-1``
            the last).
        units: the units shown in the heatmaps.
    """

    def __init__(self, module, folder: Path, layer: int, units: int) -> None:
        self.module = module
        self.folder = Path(folder)
        self.layer = layer
        self.units = units
        self.count = 0

    def __call__(self, record: dict) -> dict[str, dict[str, str]]:
        """Write the figure and traces of ``record``; returns the record's new field,
        ``{"gates": {"figure": <png>, "traces": <npz>}}`` (nothing for a record that reports
        an ``error`` instead of a prediction)."""
        if "error" in record:
            return {}
        view = self.module.gate_view(record)
        stem = f"{self.count:04d}-{_file_name(str(record['input']))}"
        self.count += 1
        figure = save_gate_figure(view, self.layer, self.units, self.folder / f"{stem}.png")
        traces = save_gate_traces(view, self.folder / f"{stem}.npz")
        return {"gates": {"figure": str(figure), "traces": str(traces)}}


def _file_name(source: str) -> str:
    """A short file-name-safe name: a path's stem, or a text's first characters."""
    name = Path(source).stem if len(source) < 256 and Path(source).suffix else source
    return re.sub(r"[^\w-]+", "_", name, flags=re.UNICODE).strip("_")[:40] or "input"
