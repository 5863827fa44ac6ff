"""The core benchmark (core/benchmarks/lstm_bench.py): its quick mode runs every case and
writes its JSON and markdown; the command line runs it as a script."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lstmkit.kernels import extension, python_kernels

SCRIPT = Path(__file__).resolve().parents[2] / "core" / "benchmarks" / "lstm_bench.py"


def _load_benchmark():
    """The benchmark script as a module (it is no package: it is run as a file)."""
    spec = importlib.util.spec_from_file_location("lstm_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


bench = _load_benchmark()
CASES, Clock, bench_shape, cases_for, main = (
    bench.CASES, bench.Clock, bench.bench_shape, bench.cases_for, bench.main,
)  # fmt: skip


def test_quick_benchmark_writes_json_and_markdown(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    try:
        result = main(["--quick", "--threads", "1", "--out-dir", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    saved = json.loads((tmp_path / "bench_core.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert [row["case"] for row in saved["rows"]] == [case.name for case in CASES]
    assert saved["matmul_gflops"] > 0
    for row in saved["rows"]:
        assert row["forward_ms"] > 0 and row["train_ms"] > 0
        assert row["train_gflops"] > 0
    baseline = next(row for row in saved["rows"] if row["case"] == "nn.LSTM")
    assert baseline["train_ratio"] == 1.0
    table = (tmp_path / "bench_core.md").read_text().splitlines()
    assert table[0].startswith("Machine:")
    assert sum(line.startswith("| 4 | 10 |") for line in table) == len(CASES)


def test_cases_option_runs_the_named_cases_and_their_baselines(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    try:
        arguments = ["--quick", "--threads", "1", "--out-dir", str(tmp_path)]
        result = main([*arguments, "--cases", "proj+zoneout", "layer_norm"])
    finally:
        torch.set_num_threads(threads)
    names = [row["case"] for row in result["rows"]]
    assert names == ["nn.LSTM", "layer_norm", "nn.LSTM proj", "proj+zoneout"]
    by_name = {row["case"]: row for row in result["rows"]}
    assert by_name["proj+zoneout"]["baseline"] == "nn.LSTM proj"
    proj = by_name["proj+zoneout"]
    assert proj["train_ratio"] == proj["train_ms"] / by_name["nn.LSTM proj"]["train_ms"]


def test_unknown_case_is_rejected(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["--quick", "--cases", "layer_nrom"])
    assert "layer_nrom" in capsys.readouterr().err


def test_cuda_cases_pair_every_variant_with_the_pytorch_loop() -> None:
    assert cases_for(torch.device("cpu")) == CASES
    cuda_cases = cases_for(torch.device("cuda"))
    variants = [c for c in CASES if c.options and not c.name.startswith("reference loop")]
    assert [c.name for c in variants] == [
        "layer_norm", "peephole", "recurrent_dropout", "zoneout", "proj+zoneout",
    ]  # fmt: skip
    for case in variants:
        twin = cuda_cases[cuda_cases.index(case) + 1]
        assert twin.name == f"{case.name} (PyTorch loop)"
        assert (twin.options, twin.baseline, twin.proj) == (case.options, case.baseline, case.proj)
        assert twin.backend == "python" and case.backend is None
    assert len(cuda_cases) == len(CASES) + len(variants)


def test_pytorch_loop_case_runs_on_the_pytorch_loops(monkeypatch: pytest.MonkeyPatch) -> None:
    """The twin switches the kernel backend for its own runs only."""
    calls = []
    forward_loop = python_kernels.forward_loop
    monkeypatch.setattr(
        python_kernels, "forward_loop", lambda *a: calls.append(1) or forward_loop(*a)
    )
    monkeypatch.setattr(extension, "_backend", "auto")
    twin = next(c for c in cases_for(torch.device("cuda")) if c.name == "zoneout (PyTorch loop)")
    clock = Clock("wall", torch.device("cpu"))
    rows = bench_shape((2, 3, 4, 8), (CASES[0], twin), clock, repeats=1, warmup=0)
    assert [row.case for row in rows] == ["nn.LSTM", "zoneout (PyTorch loop)"]
    assert len(calls) == 2  # evaluation and training forward passes
    assert extension.get_backend() == "auto"


def test_dtypes_option_times_each_dtype(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    try:
        arguments = ["--quick", "--threads", "1", "--out-dir", str(tmp_path)]
        result = main([*arguments, "--cases", "reference loop", "--dtypes", "float32", "bfloat16"])
    finally:
        torch.set_num_threads(threads)
    assert [(row["dtype"], row["case"]) for row in result["rows"]] == [
        ("float32", "nn.LSTM"), ("float32", "reference loop"),
        ("bfloat16", "nn.LSTM"), ("bfloat16", "reference loop"),
    ]  # fmt: skip
    assert set(result["matmul_gflops_by_dtype"]) == {"float32", "bfloat16"}
    assert (
        result["matmul_size"] == 256
    )  # --quick: a 2048 bfloat16 product takes a minute on some CPUs


def test_script_runs_from_the_command_line(tmp_path: Path) -> None:
    arguments = ["--quick", "--threads", "1", "--cases", "zoneout", "--out-dir", str(tmp_path)]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *arguments], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads((tmp_path / "bench_core.json").read_text())["rows"]
    assert [row["case"] for row in rows] == ["nn.LSTM", "zoneout"]


def test_cuda_device_without_cuda_is_refused(capsys: pytest.CaptureFixture) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(SystemExit):
        main(["--quick", "--device", "cuda"])
    assert "no CUDA device" in capsys.readouterr().err
