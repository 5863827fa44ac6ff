"""Predict never stops at one bad input: error records, a failing exit status, batched speech."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from tasks.audio.io import write_audio
from tasks.harness.checkpoint import load_module


def run_predict(args: list[str]) -> None:
    main = importlib.import_module("scripts.predict").main
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["predict.py", *args])
        main()


def read_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def audio_folder(folder: Path, seconds: list[float]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(3)
    paths = []
    for i, length in enumerate(seconds):
        path = folder / f"clip{i}.wav"
        write_audio(path, 0.1 * torch.randn(int(length * 16000), generator=generator), 16000)
        paths.append(path)
    return paths


def test_folder_with_a_corrupt_file_gives_two_transcripts_and_an_error(
    tiny_checkpoint, tmp_path
) -> None:
    good = audio_folder(tmp_path / "audio", [0.8, 0.5])
    corrupt = tmp_path / "audio" / "broken.wav"
    corrupt.write_bytes(b"RIFF not really audio")
    output = tmp_path / "out.jsonl"
    args = [f"ckpt={tiny_checkpoint('speech')}", f"input={tmp_path / 'audio'}", f"output={output}"]
    with pytest.raises(SystemExit) as exit_info:
        run_predict([*args, f"paths.root_dir={tmp_path}"])
    message = str(exit_info.value.code)
    assert message.startswith("error: ") and "broken.wav" in message and "1 of 3 inputs" in message
    records = read_records(output)
    assert [Path(r["input"]).name for r in records] == ["broken.wav", "clip0.wav", "clip1.wav"]
    error, *transcripts = records
    assert error["reason"] == "corrupt" and "broken.wav" in error["error"]
    assert "text" not in error
    for record, path in zip(transcripts, good, strict=True):
        assert record["input"] == str(path) and "error" not in record
        assert isinstance(record["text"], str) and record["duration"] > 0


def test_missing_and_empty_files_are_named_with_their_reason(tiny_checkpoint, tmp_path) -> None:
    module = load_module(tiny_checkpoint("speech"))
    (good,) = audio_folder(tmp_path, [0.6])
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    notes = tmp_path / "notes.txt"
    notes.write_text("not audio")
    inputs = [str(tmp_path / "gone.wav"), str(empty), str(good), str(notes)]
    with torch.inference_mode():
        records = list(module.predict_items(inputs, {}))
    reasons = [r.get("reason") for r in records]
    assert reasons == ["missing", "empty", None, "corrupt"]
    assert all(r["input"] == i for r, i in zip(records, inputs, strict=True))
    assert "text" in records[2]


def test_batched_speech_predict_matches_one_file_at_a_time(tiny_checkpoint, tmp_path) -> None:
    module = load_module(tiny_checkpoint("speech"))
    paths = [str(p) for p in audio_folder(tmp_path, [1.1, 0.3, 0.7, 0.45])]
    with torch.inference_mode():
        batched = list(module.predict_items(paths, {}))
        alone = [record for p in paths for record in module.predict_items([p], {})]
    assert [r["input"] for r in batched] == paths
    for ours, reference in zip(batched, alone, strict=True):
        assert ours["text"] == reference["text"] and ours["words"] == reference["words"]
        assert ours["score"] == pytest.approx(reference["score"], abs=1e-3)


def test_a_task_that_rejects_a_batch_still_predicts_the_good_items(
    tiny_checkpoint, tmp_path
) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for i, colour in enumerate(("red", "blue")):
        Image.new("RGB", (40, 40), colour).save(folder / f"{i}.png")
    (folder / "1b.png").write_bytes(b"\x89PNG truncated")
    output = tmp_path / "captions.jsonl"
    with pytest.raises(SystemExit):
        run_predict(
            [
                f"ckpt={tiny_checkpoint('captioning')}",
                f"input={folder}",
                f"output={output}",
                f"paths.root_dir={tmp_path}",
            ]
        )
    records = read_records(output)
    assert [Path(r["input"]).name for r in records] == ["0.png", "1.png", "1b.png"]
    assert "caption" in records[0] and "caption" in records[1]
    assert records[2]["reason"] == "unreadable" and "1b.png" in records[2]["error"]
