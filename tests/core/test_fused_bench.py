"""The core benchmark's quick mode runs every case and writes its JSON and markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
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
