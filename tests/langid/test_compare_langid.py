"""scripts/compare_langid.py on a tiny test file: per-source and per-length tables."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from threadpoolctl import threadpool_info

import scripts.compare_langid as compare_langid
from tasks.langid.comparison import Identify, score, timed
from tasks.langid.source_accuracy_plot import plot_source_accuracy
from tests.langid.langid_helpers import sentences

CANDIDATES: list[frozenset[str] | None] = []


def fake_tool() -> tuple[set[str], compare_langid.ToolFactory]:
    """Supports aa and bb and always answers aa; notes the candidates it is given."""

    def make(candidates: frozenset[str] | None) -> Identify:
        CANDIDATES.append(candidates)
        return lambda texts: ["aa"] * len(texts)

    return {"aa", "bb"}, make


def write_test_file(path: Path) -> Path:
    rows = [
        {"text": text, "label": lang, "source": source}
        for source, seed in (("ui", 1), ("names", 2))
        for lang in ("aa", "bb", "cc")
        for text in sentences(lang, 4, seed)
    ]
    rows.append({"text": "abc " * 20, "label": "aa", "source": "ui"})  # > 60 characters
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def test_compare_reports_sources_lengths_and_held_out_models(
    trained_text, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(compare_langid, "TOOLS", {"fake": fake_tool})
    checkpoint = str(trained_text.checkpoint)
    test_file = write_test_file(tmp_path / "test.jsonl")
    out = tmp_path / "out"
    base = ["--ckpt", checkpoint, "--test-file", str(test_file), "--tools", "fake"]
    compare_langid.main([*base, "--held-out", f"names={checkpoint}", "--out", str(out)])
    report = (out / "compare_langid.md").read_text()
    assert "accuracy <= 20 chars (n) | accuracy 21-60 chars (n) | accuracy > 60 chars (n)" in report
    assert "| names | trained without names |" in report
    assert "| ui | default (in-domain) |" in report
    assert "| mean over sources | | 0.5278 | " in report  # fake: (4/8 names + 5/9 ui) / 2
    summary = report[report.index("## Accuracy per source") :]
    assert "| fake (n) | ours on fake's languages |" in summary
    assert "without names (n)" not in summary  # our held-out model is not a tool column
    results = json.loads((out / "compare_langid.json").read_text())
    names = {r["tool"]: r for r in results["per_source"]["names"]}
    assert set(names) == {"fake", "ours (LSTM), without names"}
    assert names["fake"]["n"] == 8 and names["fake"]["acc"] == pytest.approx(0.5)  # aa of aa+bb
    ui = {r["tool"]: r for r in results["per_source"]["ui"]}
    assert ui["fake"]["by_length"]["> 60"] == [1.0, 1]
    everything = {r["subset"]: r for r in results["all"]}
    assert everything["all sources, all our languages"]["n"] == 25
    assert (out / "compare_langid_sources.png").read_bytes().startswith(b"\x89PNG")


def test_shared_languages_restrict_the_tool_and_ours(
    trained_text, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(compare_langid, "TOOLS", {"fake": fake_tool})
    test_file = write_test_file(tmp_path / "test.jsonl")
    ckpt = str(trained_text.checkpoint)
    args = ["--ckpt", ckpt, "--test-file", str(test_file), "--tools", "fake"]
    CANDIDATES.clear()
    compare_langid.main([*args, "--out", str(tmp_path / "all")])
    assert CANDIDATES and set(CANDIDATES) == {None}
    CANDIDATES.clear()
    compare_langid.main([*args, "--shared-languages", "--out", str(tmp_path / "shared")])
    assert CANDIDATES and set(CANDIDATES) == {frozenset({"aa", "bb"})}
    report = (tmp_path / "shared" / "compare_langid.md").read_text()
    assert "candidates: the languages each tool and ours both support" in report


def test_threads_limit_the_tools_blas_pools_during_the_run(
    trained_text, tmp_path: Path, monkeypatch
) -> None:
    seen: list[set[int]] = []

    def pool_recording_tool() -> tuple[set[str], compare_langid.ToolFactory]:
        def identify(texts: list[str]) -> list[str]:
            seen.append({pool["num_threads"] for pool in threadpool_info()})
            return ["aa"] * len(texts)

        return {"aa", "bb"}, lambda candidates: identify

    monkeypatch.setattr(compare_langid, "TOOLS", {"pools": pool_recording_tool})
    monkeypatch.setattr(torch, "set_num_threads", lambda threads: None)  # keep the suite's
    monkeypatch.delenv("RAYON_NUM_THREADS", raising=False)  # restored after the test
    before = threadpool_info()
    test_file = write_test_file(tmp_path / "test.jsonl")
    compare_langid.main(
        ["--ckpt", str(trained_text.checkpoint), "--test-file", str(test_file), "--tools", "pools",
         "--threads", "1", "--out", str(tmp_path / "out")]
    )  # fmt: skip
    assert seen and all(pools == {1} for pools in seen)  # numpy's BLAS (and OpenMP) pools
    assert threadpool_info() == before  # restored after
    assert os.environ["RAYON_NUM_THREADS"] == "1"  # lingua's pool, sized when it starts


def test_timing_leaves_out_a_first_untimed_pass() -> None:
    calls: list[int] = []

    def identify(texts: list[str]) -> list[str | None]:
        calls.append(len(texts))
        return ["aa"] * len(texts)

    predicted, seconds = timed(identify, ["x"] * 100)
    assert calls == [100, 100] and len(predicted) == 100 and seconds >= 0


def test_bad_held_out_argument_is_a_clear_error(trained_text, tmp_path: Path) -> None:
    test_file = write_test_file(tmp_path / "test.jsonl")
    base = ["--ckpt", str(trained_text.checkpoint), "--test-file", str(test_file), "--tools", ""]
    with pytest.raises(SystemExit, match="expected SOURCE=CKPT"):
        compare_langid.main([*base, "--held-out", "names"])
    with pytest.raises(SystemExit, match=r"no such source.*'names', 'ui'"):
        compare_langid.main([*base, "--held-out", "wiki=x.ckpt"])


def test_length_bins_count_each_text_once() -> None:
    texts = ["a" * 20, "b" * 21, "c" * 60, "d" * 61]
    result = score("s", "tool", texts, ["x", "y", "x", "y"], ["x", "x", "x", "y"], 1.0)
    assert result.by_length == {"<= 20": (1.0, 1), "21-60": (0.5, 2), "> 60": (1.0, 1)}


def test_source_chart_draws_sources_a_tool_does_not_cover(tmp_path: Path) -> None:
    accuracy = {"ui": {"x": (0.5, 0.6), "y": (0.7, 0.8)}, "names": {"x": (0.4, 0.9)}}
    path = plot_source_accuracy(accuracy, tmp_path / "chart.png", "per source")
    assert path.read_bytes().startswith(b"\x89PNG")
