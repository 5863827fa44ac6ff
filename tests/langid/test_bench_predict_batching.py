"""scripts/bench_predict_batching.py on the tiny written-LID checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import torch

import scripts.bench_predict_batching as bench
from tests.langid.langid_helpers import sentences


def test_three_policies_give_the_same_answers(
    trained_text, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setattr(torch, "set_num_threads", lambda threads: None)  # keep the suite's
    rows = [{"text": t, "label": lang} for lang in ("aa", "bb") for t in sentences(lang, 30, 5)]
    path = tmp_path / "texts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    bench.main(
        [
            "--ckpt",
            str(trained_text.checkpoint),
            "--input",
            str(path),
            "--batch-size",
            "4",
            "--large-batch",
            "32",
            "--max-padded-size",
            "200",
        ]
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "60 texts, 1 thread(s)"
    assert [line.split(":")[0] for line in lines[1:]] == [
        "input order, batch 4",
        "length order, batch 4",
        "length order, batch 32, max_padded_size 200",
    ]
    assert all(line.endswith("same answers 1.0000") for line in lines[1:])
    assert "(1.00x)" in lines[1]
