"""Export a task model to ONNX or TorchScript, with a JSON manifest beside it.

A task names what it exports through :meth:`tasks.harness.module.TaskModule.export_graphs`
(one :class:`ExportGraph` per module: speech has one, captioning an image encoder and a
decoder step) and the manifest fields a caller needs to prepare inputs and read outputs
(:meth:`~tasks.harness.module.TaskModule.export_manifest`: vocabulary, labels, feature
settings). This module does the rest once for every task:

- ``onnx``: ``torch.onnx.export`` (TorchScript-based exporter, ``dynamo=False``, opset 17)
  with the graph's named dynamic axes; lstmkit layers become ONNX ``LSTM`` nodes.
- ``torchscript``: ``torch.jit.trace`` then ``torch.jit.save``.

Layout of ``<output>/``: ``<graph>.onnx`` or ``<graph>.pt`` per graph and ``manifest.json``::

    {"task": ..., "format": ..., "graphs": {name: {"file", "inputs": [{name, dtype, shape}],
     "outputs": [{name, shape}]}}, ...the task's fields}

``shape`` lists an int per fixed axis and a name (``"batch"``, ``"samples"``) per dynamic one.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from lstmkit import LSTM
from tasks.harness.checkpoint import find_checkpoint, load_module, run_dir_of
from tasks.harness.errors import ConfigError, InputError

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
MANIFEST = "manifest.json"
OPSET = 17


@dataclass
class ExportGraph:
    """One module to export and how to call it.

    Attributes:
        name: file stem, e.g. ``model``, ``encoder``, ``decoder_step``.
        module: an ``nn.Module`` in eval mode whose ``forward`` takes ``inputs`` in order and
            returns a tensor or a tuple of tensors named by ``outputs``.
        inputs: example inputs by name (their shapes set the fixed axes of the manifest).
        outputs: output names.
        dynamic: per input/output name, ``{axis: axis name}`` of the axes that may vary.
    """

    name: str
    module: nn.Module
    inputs: dict[str, Tensor]
    outputs: list[str]
    dynamic: dict[str, dict[int, str]] = field(default_factory=dict)

    def shape(self, name: str, rank: int, example: Sequence[int]) -> list[int | str]:
        axes = self.dynamic.get(name, {})
        return [axes.get(i, example[i] if i < len(example) else "?") for i in range(rank)]


def check_exportable(graph: ExportGraph) -> None:
    """Refuse LSTM layers whose step is not the plain one (layer norm, peepholes, zoneout,
    recurrent dropout): they trace their time loop step by step, so the graph would only
    take the example's length.

    Raises:
        ConfigError: naming the graph, the layers' variants and the way out.
    """
    for name, layer in graph.module.named_modules():
        variants = getattr(layer, "layer_variants", [])
        if isinstance(layer, LSTM) and any(v.changes_recurrence for v in variants):
            raise ConfigError(
                f"cannot export {graph.name}: its LSTM {name or '(root)'} has layers with "
                "layer_norm, peephole, zoneout or recurrent_dropout, whose time loop is traced "
                "step by step and would fix the graph to the example's length; export a model "
                "trained without these lstm options"
            )


def export_graph(graph: ExportGraph, path: Path, fmt: str) -> None:
    """Write ``graph`` to ``path`` as ``fmt`` (``onnx`` or ``torchscript``)."""
    check_exportable(graph)
    args = tuple(graph.inputs.values())
    # The exporters warn about every Python int/bool they freeze (the graphs' shape
    # arithmetic is meant to be traced); the parity tests are the check that matters.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "onnx":
            torch.onnx.export(
                graph.module,
                args,
                str(path),
                dynamo=False,
                opset_version=OPSET,
                input_names=list(graph.inputs),
                output_names=graph.outputs,
                dynamic_axes=graph.dynamic,
            )
        else:
            traced = torch.jit.trace(graph.module, args, check_trace=False)
            torch.jit.save(traced, str(path))


def graph_manifest(graph: ExportGraph, file: str) -> dict[str, Any]:
    """The manifest entry of one graph: its file and named, shaped inputs and outputs."""
    with torch.no_grad():
        results = graph.module(*graph.inputs.values())
    results = results if isinstance(results, tuple) else (results,)
    return {
        "file": file,
        "inputs": [
            {
                "name": name,
                "dtype": str(x.dtype).removeprefix("torch."),
                "shape": graph.shape(name, x.dim(), x.shape),
            }
            for name, x in graph.inputs.items()
        ],
        "outputs": [
            {"name": name, "shape": graph.shape(name, y.dim(), y.shape)}
            for name, y in zip(graph.outputs, results, strict=True)
        ],
    }


def export_module(
    graphs: Sequence[ExportGraph], fields: Mapping[str, Any], output: Path, fmt: str
) -> Path:
    """Export every graph to ``output/`` and write the manifest; returns the manifest path."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}, got {fmt!r}")
    output.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"format": fmt, "graphs": {}}
    for graph in graphs:
        file = graph.name + FORMATS[fmt]
        with torch.no_grad():
            export_graph(graph, output / file, fmt)
        manifest["graphs"][graph.name] = graph_manifest(graph, file)
    manifest.update(fields)
    path = output / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def default_output(checkpoint: Path, fmt: str) -> Path:
    """``<run dir>/export/<format>`` beside the checkpoint's run."""
    return run_dir_of(checkpoint) / "export" / fmt


def export(cfg: DictConfig) -> Path:
    """Export ``cfg.ckpt`` as ``cfg.format`` to ``cfg.output``; returns the manifest path."""
    if cfg.ckpt is None:
        raise InputError("pass ckpt=<checkpoint file, run directory or 'last'>")
    if cfg.format not in FORMATS:
        raise ConfigError(f"format={cfg.format} is not one of {', '.join(FORMATS)}")
    checkpoint = find_checkpoint(cfg.ckpt, cfg.paths.runs_dir)
    module = load_module(checkpoint)
    output = Path(cfg.output) if cfg.output else default_output(checkpoint, cfg.format)
    fields = {"task": module.run_config.get("task", {}).get("name"), **module.export_manifest()}
    path = export_module(module.export_graphs(), fields, output, cfg.format)
    print(f"exported {module.run_config.get('task', {}).get('name')} to {path.parent}")
    return path
