"""Run an exported model (see :mod:`tasks.harness.export`) from its manifest.

:class:`ExportedModel` opens every graph of an export directory with onnxruntime (``.onnx``)
or ``torch.jit.load`` (``.pt``) and runs it on named tensors, so parity tests and benchmarks
call both formats the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from tasks.harness.export import MANIFEST


class ExportedModel:
    """The graphs of one export directory.

    Args:
        directory: holds ``manifest.json`` and the graph files.
        threads: intra-op threads of the onnxruntime sessions (None: onnxruntime's default).
    """

    def __init__(self, directory: str | Path, threads: int | None = None) -> None:
        self.directory = Path(directory)
        self.manifest: dict[str, Any] = json.loads(
            (self.directory / MANIFEST).read_text(encoding="utf-8")
        )
        self.graphs = {
            name: self._open(self.directory / entry["file"], threads)
            for name, entry in self.manifest["graphs"].items()
        }

    @staticmethod
    def _open(path: Path, threads: int | None) -> Any:
        if path.suffix == ".pt":
            return torch.jit.load(str(path))
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(self, graph: str, **inputs: Tensor) -> list[Tensor]:
        """Run ``graph`` on its inputs by name (any order); outputs in the manifest's order."""
        names = [x["name"] for x in self.manifest["graphs"][graph]["inputs"]]
        missing = set(names) - set(inputs)
        if missing:
            raise ValueError(f"graph {graph} needs inputs {sorted(missing)}")
        runner = self.graphs[graph]
        if isinstance(runner, torch.jit.ScriptModule):
            with torch.inference_mode():
                outputs = runner(*(inputs[n] for n in names))
            return list(outputs) if isinstance(outputs, tuple) else [outputs]
        feeds = {n: inputs[n].detach().cpu().numpy() for n in names}
        return [torch.from_numpy(y) for y in runner.run(None, feeds)]
