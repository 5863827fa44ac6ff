"""Benchmark of lstmkit against torch.nn.LSTM: ``python core/benchmarks/lstm_bench.py``.

For each shape ``(B, T, I, H)`` and dtype every case runs side by side in one process,
interleaved round by round so that load changes hit all cases alike; each time is the median
over the rounds. Cases: ``nn.LSTM``, ``lstmkit.LSTM`` plain and with each variant, and the
naive autograd loop (:func:`lstmkit.reference.reference_lstm_layer`, the input GEMM done once
outside the loop). On CUDA each variant also runs on the PyTorch time loops of lstmkit's
kernel (``LSTMKIT_KERNEL_BACKEND=python``, cases ``"<variant> (PyTorch loop)"``) beside the
default Triton kernels, in float32 and bfloat16 (parameters and input), at :data:`GPU_SHAPES`. Two
measurements per case:

* forward: evaluation mode under ``torch.no_grad()`` (inference);
* forward+backward: training mode (dropout/zoneout masks sampled), ``out.sum().backward()``.

Throughput counts the GEMM work of one layer, ``2 T B 4H (I + P)`` FLOPs forward (plus
``2 T B P H`` for a projection) and three times that for forward+backward; it is compared
with a square matmul of the same dtype measured in the same run (2048x2048; 256x256 with
``--quick``: a CPU without native bfloat16 takes about a minute per 2048x2048 product).
Results are printed and written to
``<out_dir>/bench_core.json`` and ``<out_dir>/bench_core.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import torch
from torch import Tensor, nn

from lstmkit import LSTM, reference_lstm_layer
from lstmkit.kernels import get_backend, set_backend

SHAPES = ((32, 100, 256, 256), (16, 200, 128, 128), (64, 50, 512, 512), (8, 100, 80, 320))
GPU_SHAPES = ((32, 100, 256, 256), (64, 500, 512, 512))
QUICK_SHAPES = ((4, 10, 16, 32),)
MATMUL_SIZE, QUICK_MATMUL_SIZE = 2048, 256
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Case:
    """One benchmarked configuration; ``baseline`` names the row its ratio is taken to and
    ``backend``, where set, the backend of lstmkit's kernel it runs on."""

    name: str
    options: dict
    baseline: str = "nn.LSTM"
    proj: bool = False
    backend: str | None = None


CASES = (
    Case("nn.LSTM", {}),
    Case("lstmkit plain", {}),
    Case("layer_norm", {"layer_norm": True}),
    Case("peephole", {"peephole": True}),
    Case("recurrent_dropout", {"recurrent_dropout": 0.25}),
    Case("zoneout", {"zoneout": 0.1}),
    Case("nn.LSTM proj", {}, proj=True),
    Case("proj+zoneout", {"zoneout": 0.1}, baseline="nn.LSTM proj", proj=True),
    Case("reference loop", {}),
    Case("reference loop layer_norm", {"layer_norm": True}),
)


def cases_for(device: torch.device) -> tuple[Case, ...]:
    """:data:`CASES`; on CUDA each variant is followed by its twin on the PyTorch loops."""
    if device.type != "cuda":
        return CASES
    cases = []
    for case in CASES:
        cases.append(case)
        if case.options and not case.name.startswith("reference loop"):
            cases.append(replace(case, name=f"{case.name} (PyTorch loop)", backend="python"))
    return tuple(cases)


@dataclass
class Row:
    """Measured times of one case at one shape."""

    batch: int
    steps: int
    input_size: int
    hidden_size: int
    dtype: str
    case: str
    baseline: str
    forward_ms: float
    train_ms: float
    forward_ratio: float = float("nan")
    train_ratio: float = float("nan")
    forward_gflops: float = float("nan")
    train_gflops: float = float("nan")
    train_peak_fraction: float = float("nan")


def build_case(
    case: Case, shape: tuple[int, ...], device: torch.device, dtype: torch.dtype = torch.float32
) -> Callable:
    """A function ``run(train: bool) -> Tensor`` computing the case's output for ``x``."""
    batch, steps, input_size, hidden = shape
    proj_size = hidden // 2 if case.proj else 0
    x = torch.randn(steps, batch, input_size, device=device, dtype=dtype)
    factory = {"device": device, "dtype": dtype}
    if case.name.startswith("nn.LSTM"):
        module: nn.Module = nn.LSTM(input_size, hidden, proj_size=proj_size, **factory)
    else:
        module = LSTM(input_size, hidden, proj_size=proj_size, **factory, **case.options)
    if case.name.startswith("reference loop"):
        return _reference_runner(module, x, layer_norm=bool(case.options.get("layer_norm")))

    def run(train: bool) -> Tensor:
        module.train(train)
        if case.backend is None:
            return module(x)[0]
        previous = get_backend()
        set_backend(case.backend)
        try:
            return module(x)[0]
        finally:
            set_backend(previous)

    return run


def _reference_runner(module: LSTM, x: Tensor, layer_norm: bool) -> Callable:
    """The naive autograd loop with ``module``'s weights (recurrent layer norm included)."""
    params = dict(module.named_parameters())
    hidden = module.hidden_sizes[0]
    ln = {
        name: (
            torch.ones(size, device=x.device, dtype=x.dtype, requires_grad=True),
            torch.zeros(size, device=x.device, dtype=x.dtype, requires_grad=True),
        )
        for name, size in (("ln_h", 4 * hidden), ("ln_c", hidden))
    }

    def run(train: bool) -> Tensor:
        gates_x = torch.addmm(
            params["bias_ih_l0"] + params["bias_hh_l0"],
            x.reshape(-1, x.shape[-1]),
            params["weight_ih_l0"].t(),
        ).view(x.shape[0], x.shape[1], -1)
        h0 = x.new_zeros(x.shape[1], hidden)
        out, _, _ = reference_lstm_layer(
            gates_x, params["weight_hh_l0"], h0, h0, **(ln if layer_norm else {})
        )
        return out

    return run


def layer_flops(shape: tuple[int, ...], proj: bool) -> float:
    """GEMM FLOPs of one forward pass of one layer."""
    batch, steps, input_size, hidden = shape
    width = hidden // 2 if proj else hidden
    flops = 2 * steps * batch * 4 * hidden * (input_size + width)
    return float(flops + (2 * steps * batch * width * hidden if proj else 0))


def matmul_gflops(
    clock: Clock, repeats: int, dtype: torch.dtype = torch.float32, size: int = MATMUL_SIZE
) -> float:
    """Throughput of a ``size x size`` matmul: the machine's practical GEMM peak for ``dtype``."""
    a = torch.randn(size, size, device=clock.device, dtype=dtype)
    b = torch.randn(size, size, device=clock.device, dtype=dtype)
    seconds = _median_seconds(lambda: a @ b, clock, repeats)
    return 2 * size**3 / seconds / 1e9


def _median_seconds(fn: Callable[[], object], clock: Clock, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times)


class Clock:
    """Wall time (synchronising CUDA), or this process's CPU time.

    CPU time is meant for ``--threads 1`` on a shared machine, where other processes'
    load makes wall times of multi-threaded runs meaningless.
    """

    def __init__(self, kind: str, device: torch.device) -> None:
        if kind not in ("wall", "cpu"):
            raise ValueError(f"clock must be 'wall' or 'cpu', got {kind!r}")
        if kind == "cpu" and device.type != "cpu":
            raise ValueError("--clock cpu measures CPU runs only")
        self.kind, self.device = kind, device

    def __call__(self) -> float:
        if self.kind == "cpu":
            return time.process_time()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()


def select_cases(names: list[str] | None, cases: tuple[Case, ...] = CASES) -> tuple[Case, ...]:
    """The ``cases`` named (all when ``names`` is None) plus the baselines their ratios need,
    in their order."""
    if names is None:
        return cases
    by_name = {case.name: case for case in cases}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ValueError(f"--cases: unknown {unknown}; choose from {list(by_name)}")
    wanted = set(names) | {by_name[name].baseline for name in names}
    return tuple(case for case in cases if case.name in wanted)


def bench_shape(
    shape: tuple[int, ...],
    cases: tuple[Case, ...],
    clock: Clock,
    repeats: int,
    warmup: int,
    dtype: torch.dtype = torch.float32,
) -> list[Row]:
    """Time ``cases`` at ``shape``: ``repeats`` interleaved rounds after ``warmup``."""
    runners = {case.name: build_case(case, shape, clock.device, dtype) for case in cases}

    def forward(run: Callable) -> None:
        with torch.no_grad():
            run(False)

    def train(run: Callable) -> None:
        run(True).sum().backward()

    times: dict[tuple[str, str], list[float]] = {}
    for round_index in range(warmup + repeats):
        for name, run in runners.items():
            for mode, step in (("forward", forward), ("train", train)):
                start = clock()
                step(run)
                elapsed = clock() - start
                if round_index >= warmup:
                    times.setdefault((name, mode), []).append(elapsed)
    rows = []
    for case in cases:
        forward_s = statistics.median(times[case.name, "forward"])
        train_s = statistics.median(times[case.name, "train"])
        flops = layer_flops(shape, case.proj)
        rows.append(
            Row(
                *shape,
                dtype=str(dtype).removeprefix("torch."),
                case=case.name,
                baseline=case.baseline,
                forward_ms=forward_s * 1e3,
                train_ms=train_s * 1e3,
                forward_gflops=flops / forward_s / 1e9,
                train_gflops=3 * flops / train_s / 1e9,
            )
        )
    by_name = {row.case: row for row in rows}
    for row in rows:
        base = by_name[row.baseline]
        row.forward_ratio = row.forward_ms / base.forward_ms
        row.train_ratio = row.train_ms / base.train_ms
    return rows


def machine_description(clock: Clock) -> dict:
    device = clock.device
    info = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "clock": clock.kind,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": device.type,
        "threads": torch.get_num_threads(),
        "cpu": _cpu_name(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def markdown_table(
    rows: list[Row], peaks: dict[str, float], machine: dict, matmul_size: int
) -> str:
    """The rows as a markdown table under a line describing the machine; ``peaks`` maps
    dtype names to the ``matmul_size`` square matmul's GFLOP/s."""
    peak_text = ", ".join(f"{name} {gflops:.0f}" for name, gflops in peaks.items())
    lines = [
        f"Machine: {machine['cpu']} ({machine['threads']} threads, {machine['device']}"
        + (f", {machine['gpu']}" if "gpu" in machine else "")
        + f"), torch {machine['torch']}, {machine['date']}, {machine['clock']} time. "
        f"{matmul_size}x{matmul_size} matmul GFLOP/s: {peak_text}.",
        "",
        "| B | T | I | H | dtype | case | forward ms | ratio | fwd+bwd ms | ratio | GFLOP/s "
        "| of peak |",
        "|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.batch} | {r.steps} | {r.input_size} | {r.hidden_size} | {r.dtype} | {r.case} "
            f"| {r.forward_ms:.1f} | {r.forward_ratio:.2f}x | {r.train_ms:.1f} "
            f"| {r.train_ratio:.2f}x | {r.train_gflops:.3g} | {r.train_peak_fraction:.0%} |"
        )
    return "\n".join(lines) + "\n"


def run_benchmark(
    shapes: tuple[tuple[int, ...], ...],
    cases: tuple[Case, ...],
    clock: Clock,
    repeats: int,
    warmup: int,
    out_dir: Path,
    dtypes: tuple[str, ...] = ("float32",),
    matmul_size: int = MATMUL_SIZE,
) -> dict:
    """Run ``cases`` at every shape and dtype (names of :data:`DTYPES`), print the table,
    write JSON and markdown; returns the JSON dict. Peaks: ``matmul_size`` square matmuls."""
    torch.manual_seed(0)
    peaks = {name: matmul_gflops(clock, repeats, DTYPES[name], matmul_size) for name in dtypes}
    rows = []
    for shape in shapes:
        for name in dtypes:
            shape_rows = bench_shape(shape, cases, clock, repeats, warmup, DTYPES[name])
            for row in shape_rows:
                row.train_peak_fraction = row.train_gflops / peaks[name]
            rows.extend(shape_rows)
    machine = machine_description(clock)
    table = markdown_table(rows, peaks, machine, matmul_size)
    print(table)
    result = {
        "machine": machine,
        "matmul_gflops": peaks[dtypes[0]],
        "matmul_gflops_by_dtype": peaks,
        "matmul_size": matmul_size,
        "repeats": repeats,
        "rows": [asdict(row) for row in rows],
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench_core.json").write_text(json.dumps(result, indent=2))
    (out_dir / "bench_core.md").write_text(table)
    print(f"wrote {out_dir / 'bench_core.json'} and {out_dir / 'bench_core.md'}")
    return result


def parse_shape(text: str) -> tuple[int, ...]:
    """``"32x100x256x256"`` -> ``(B, T, I, H)``."""
    parts = tuple(int(p) for p in text.lower().split("x"))
    if len(parts) != 4 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"shape must be BxTxIxH with positive ints, got {text!r}")
    return parts


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--shapes", type=parse_shape, nargs="+", help="BxTxIxH shapes (default: by device)"
    )
    parser.add_argument(
        "--dtypes",
        nargs="+",
        choices=list(DTYPES),
        help="parameter and input dtypes (default: float32 on CPU, float32 and bfloat16 on CUDA)",
    )
    parser.add_argument(
        "--cases", nargs="+", metavar="CASE", help="case names (default: all); baselines are added"
    )
    parser.add_argument("--repeats", type=int, default=9, help="timed rounds per case")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    parser.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall", help="cpu: process CPU time"
    )
    parser.add_argument("--out-dir", type=Path, default=Path("results"))
    parser.add_argument(
        "--quick", action="store_true", help="one tiny shape, 2 rounds, a 256 matmul"
    )
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = device.type == "cuda"
    default_shapes = QUICK_SHAPES if args.quick else GPU_SHAPES if cuda else SHAPES
    shapes = tuple(args.shapes or default_shapes)
    dtypes = tuple(args.dtypes or (("float32", "bfloat16") if cuda else ("float32",)))
    repeats, warmup = (2, 1) if args.quick else (args.repeats, args.warmup)
    try:
        cases = select_cases(args.cases, cases_for(device))
    except ValueError as error:
        parser.error(str(error))
    clock = Clock(args.clock, device)
    matmul_size = QUICK_MATMUL_SIZE if args.quick else MATMUL_SIZE
    return run_benchmark(shapes, cases, clock, repeats, warmup, args.out_dir, dtypes, matmul_size)


if __name__ == "__main__":
    main()
