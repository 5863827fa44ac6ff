"""How the predict harness cuts its inputs into calls and writes the records."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tasks.harness.predict import input_sizes, write_records


class RecordingModule:
    """Stands in for a task module: echoes each text and keeps every call's inputs."""

    input_kind = "text"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def predict_items(self, inputs: list[str], options: Mapping[str, Any]) -> Iterator[dict]:
        self.calls.append(list(inputs))
        for text in inputs:
            if text == "bad":
                raise ValueError("input 'bad' is unusable")
            yield {"input": text, "length": len(text)}


TEXTS = ["a" * 30, "bb", "ccc", "bad", "d" * 12, "e", "f" * 29, "gggg"]


def test_calls_group_texts_by_length_and_records_keep_input_order() -> None:
    module, out = RecordingModule(), io.StringIO()
    count, errors = write_records(module, TEXTS, {}, 3, out, max_padded_size=60)  # type: ignore[arg-type]
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert count == len(TEXTS) and [r["input"] for r in records] == TEXTS
    assert [e["input"] for e in errors] == ["bad"] and "error" in records[3]
    good_calls = [call for call in module.calls if "bad" not in call]
    assert good_calls[0] == ["e", "bb", "ccc"]  # shortest first, `batch_size` at most
    assert ["f" * 29, "a" * 30] in good_calls  # 2 x 30 characters within the cap of 60
    assert all(len(call) * max(map(len, call)) <= 60 for call in module.calls)


def test_file_sizes_are_bytes_and_missing_files_come_first(tmp_path: Path) -> None:
    (tmp_path / "long.wav").write_bytes(b"x" * 300)
    (tmp_path / "short.wav").write_bytes(b"x" * 10)
    items = [str(tmp_path / "long.wav"), str(tmp_path / "missing.wav"), str(tmp_path / "short.wav")]
    assert input_sizes(items, "file") == [300, 0, 10]
    assert input_sizes(["abc", ""], "text") == [3, 0]
