"""Speed of a task's exported graphs on CPU: PyTorch (eager) vs onnxruntime vs TorchScript.

    python scripts/bench_export.py --ckpt outputs/<task>/runs/<run> [--threads 1] [--repeats 20]

Exports the checkpoint's graphs (``scripts/export.py``'s code) to a temporary folder, then
times each graph at batch 1 and batch 16 on its example input (the first example item
repeated: one second of audio for speech and spoken language ID, 12 symbols for written
language ID, one image and one decoder step for captioning), after one warm-up call. Prints
milliseconds per call (median of ``--repeats``) and the speed-up over PyTorch.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from tasks.harness.checkpoint import find_checkpoint, load_module
from tasks.harness.export import ExportGraph, export_module
from tasks.harness.exported import ExportedModel

BATCHES = (1, 16)


def batch_of(graph: ExportGraph, size: int) -> dict[str, Tensor]:
    """The graph's first example item repeated ``size`` times along the batch axis."""
    return {
        name: x[:1].repeat(size, *([1] * (x.dim() - 1))) if 0 in graph.dynamic.get(name, {}) else x
        for name, x in graph.inputs.items()
    }


def median_ms(call: Callable[[], object], repeats: int) -> float:
    call()  # warm-up: allocator, thread pools, onnxruntime's first-run planning
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True, help="a .ckpt or a run directory")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads of both")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    module = load_module(find_checkpoint(args.ckpt))
    graphs = module.export_graphs()
    task = module.run_config.get("task", {}).get("name", type(module).__name__)
    modality = module.export_manifest().get("modality")
    task += f" ({modality})" if modality else ""
    print(f"{task}: {args.threads} thread(s), median of {args.repeats} calls, ms per call")
    print(f"{'graph':<14}{'batch':>6}{'pytorch':>10}{'onnxrt':>10}{'torchscr':>10}{'ort x':>8}")
    with tempfile.TemporaryDirectory() as folder:
        runtimes = {}
        for fmt in ("onnx", "torchscript"):
            export_module(graphs, {}, Path(folder) / fmt, fmt)
            runtimes[fmt] = ExportedModel(Path(folder) / fmt, threads=args.threads)
        for graph in graphs:
            for size in BATCHES:
                inputs = batch_of(graph, size)

                def eager(graph: ExportGraph = graph, inputs: dict = inputs) -> object:
                    with torch.inference_mode():
                        return graph.module(*inputs.values())

                ms = {"pytorch": median_ms(eager, args.repeats)}
                for fmt, model in runtimes.items():
                    ms[fmt] = median_ms(
                        lambda m=model, g=graph, i=inputs: m.run(g.name, **i), args.repeats
                    )
                print(
                    f"{graph.name:<14}{size:>6}{ms['pytorch']:>10.2f}{ms['onnx']:>10.2f}"
                    f"{ms['torchscript']:>10.2f}{ms['pytorch'] / ms['onnx']:>8.2f}"
                )


if __name__ == "__main__":
    main()
