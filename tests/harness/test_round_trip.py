"""Train -> eval -> predict on the toy task through the real entry points."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest

from tasks.harness.checkpoint import load_module
from tasks.harness.errors import InputError
from tasks.harness.predict import expand_inputs, read_text_lines
from tests.harness.conftest import read_json, run_entry_point, toy_overrides


def test_train_eval_predict_round_trip(base_run: Path) -> None:
    root = base_run.parents[3]
    summary = read_json(base_run / "summary.json")
    # What the run directory must hold.
    assert (base_run / ".hydra" / "config.yaml").is_file()
    with open(base_run / "metrics.csv", newline="") as handle:
        padding = [
            float(r["train/padding_fraction"])
            for r in csv.DictReader(handle)
            if r["train/padding_fraction"]
        ]
    assert len(padding) == 2 and all(0 <= p < 0.5 for p in padding), "bucketing keeps padding low"
    assert (base_run / "plots" / "learning_curves.png").stat().st_size > 0
    assert (base_run / "checkpoints" / "last.ckpt").is_file()
    assert Path(summary["checkpoint"]).is_file() and Path(summary["checkpoint"]).name.startswith(
        "best-"
    )
    # summary.json fields.
    for key in (
        "test/acc",
        "test/loss",
        "best/val/loss",
        "wall_time_s",
        "fit_time_s",
        "parameters",
        "checkpoint",
    ):
        assert summary[key] is not None, key
    assert 0 < summary["fit_time_s"] < summary["wall_time_s"]
    assert summary["epochs"] == 2 and summary["global_step"] == 2 * 48 // 8
    assert summary["parameters"] == sum(
        p.numel() for p in load_module(summary["checkpoint"]).parameters()
    )
    assert summary["test/acc"] > 0.9, "the toy task is separable; the harness must train it"

    # Eval of the best checkpoint reproduces the training run's test metrics, with the task's
    # data config (task=toy) or, without task=/data=, the one saved in the checkpoint.
    run_entry_point("eval", [*toy_overrides(root), f"ckpt={summary['checkpoint']}"])
    run_entry_point("eval", [f"paths.root_dir={root}", f"ckpt={summary['checkpoint']}"])
    # Both land under the checkpoint's task, although the second names none.
    eval_dirs = list((root / "outputs" / "toy" / "evals").iterdir())
    assert len(eval_dirs) == 2 and not (root / "outputs" / "speech").exists()
    for eval_dir in eval_dirs:
        evaluated = read_json(eval_dir / "summary.json")
        assert evaluated["checkpoint"] == summary["checkpoint"] and evaluated["task"] == "toy"
        assert evaluated["test/acc"] == pytest.approx(summary["test/acc"])
        assert evaluated["test/loss"] == pytest.approx(summary["test/loss"], rel=1e-5)

    # Predict: a text file with one item per line -> one JSONL record per line.
    inputs = root / "items.txt"
    inputs.write_text("1.1 0.9 1.3\n\n-0.8 -1.2 -1.0 -0.9\n")
    output = root / "pred.jsonl"
    run_entry_point(
        "predict", [*toy_overrides(root), "ckpt=last", f"input={inputs}", f"output={output}"]
    )
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["input"] for r in records] == ["1.1 0.9 1.3", "-0.8 -1.2 -1.0 -0.9"]
    assert [r["label"] for r in records] == ["pos", "neg"]
    assert all(sum(r["scores"].values()) == pytest.approx(1.0, abs=1e-5) for r in records)


def test_predict_text_and_clear_errors(base_run: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    # No task=: the module class, labels and statistics all come from the checkpoint.
    run_entry_point(
        "predict",
        [f"paths.root_dir={tmp_path}", f"ckpt={base_run}", "text=-1 -1.1", "+options.top_k=1"],
    )
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record == {
        "input": "-1 -1.1",
        "label": "neg",
        "scores": {"neg": record["scores"]["neg"]},
    }

    with pytest.raises(InputError, match="does not exist"):
        expand_inputs(str(tmp_path / "missing.txt"), None, "text")
    with pytest.raises(InputError, match="only for text tasks"):
        expand_inputs(None, "hello", "file")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"1 2\n3 \xff 4\n")
    with pytest.raises(InputError, match=r"bad.txt: line 2 is not valid UTF-8"):
        read_text_lines(bad)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "notes.md").write_text("x")
    with pytest.raises(InputError, match=r"holds no files with extension \.wav"):
        expand_inputs(str(folder), None, "file", (".wav",))
    assert expand_inputs(str(folder), None, "file") == [str(folder / "notes.md")]
    monkeypatch.setattr(sys, "stdin", io.StringIO("1 2\n\n-3\n"))
    assert expand_inputs("-", None, "text") == ["1 2", "-3"]
    # A task's ValueError for an unusable input becomes a one-line error, not a traceback.
    with pytest.raises(SystemExit, match=r"^error: input 'a b' is not a list of numbers"):
        run_entry_point("predict", [f"paths.root_dir={tmp_path}", f"ckpt={base_run}", "text=a b"])
