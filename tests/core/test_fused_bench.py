"""The core benchmark's quick mode runs every case and writes its JSON and markdown."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from lstmkit.bench import CASES, main


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
