"""Local CSV/JSONL loading with configurable columns, skipped rows and clear errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.langid.langid_helpers import text_datamodule


def write_csv(path: Path, rows: list[tuple[str, str]]) -> str:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["sentence", "lang"])
        writer.writerows(rows)
    return str(path)


@pytest.fixture
def csv_files(tmp_path: Path) -> dict[str, str]:
    train = [("Guten Morgen", "de"), ("None of them", "en"), ("NA", "en"), ("Hallo Welt", "de")]
    return {
        "train": write_csv(tmp_path / "train.csv", train),
        "validation": write_csv(tmp_path / "val.csv", [("Good day", "en"), ("Bonjour", "fr")]),
        "test": write_csv(tmp_path / "test.csv", [("Tschüss", "de"), ("", "de")]),
    }


def local_dm(tmp_path: Path, files: dict[str, str], **overrides):
    dataset = {"path": "csv", "data_files": files, "keep_default_na": False}
    options = {"dataset": dataset, "text_column": "sentence", "label_column": "lang"}
    return text_datamodule(tmp_path, **{**options, **overrides})


def test_local_csv_with_custom_columns(tmp_path: Path, csv_files, caplog) -> None:
    dm = local_dm(tmp_path, csv_files)
    dm.setup("fit")
    texts, _labels = dm.load_raw()["train"]
    assert texts[1:3] == ["None of them", "NA"]  # not turned into missing values
    assert dm.artifacts()["labels"] == ["de", "en"]
    assert len(dm.encoded["train"]) == 4
    assert len(dm.encoded["validation"]) == 1  # "fr" is not a training label: skipped and counted
    assert len(dm.encoded["test"]) == 1  # empty text skipped
    assert "skipped 1 rows (label not in the training labels)" in caplog.text
    assert "skipped 1 rows (empty text)" in caplog.text
    batch = next(iter(dm.train_dataloader()))
    assert batch["inputs"].shape[0] == batch["inputs_lengths"].shape[0] == batch["label"].shape[0]


def test_missing_column_names_the_field(tmp_path: Path, csv_files) -> None:
    dm = local_dm(tmp_path, csv_files, label_column="language")
    with pytest.raises(ValueError, match=r"column 'language' \(data.label_column\) not in split"):
        dm.setup("fit")


def test_byte_units_need_no_vocabulary(tmp_path: Path, csv_files) -> None:
    dm = local_dm(tmp_path, csv_files, unit="byte")
    dm.setup("fit")
    assert len(dm.artifacts()["vocabulary"]["itos"]) == 258  # <pad>, <unk> and 256 bytes
    assert len(dm.encoded["test"].ids[0]) == len("Tschüss".encode())


def test_max_train_per_label_keeps_the_first_rows(tmp_path: Path, csv_files) -> None:
    dm = local_dm(tmp_path, csv_files, max_train_per_label=1)
    dm.setup("fit")
    texts, labels = dm.load_raw()["train"]
    assert (texts, labels) == (["Guten Morgen", "None of them"], ["de", "en"])


def write_sourced_splits(root: Path) -> Path:
    """JSONL splits whose rows carry a ``source`` column (as the embedded corpus's do)."""
    rows = {
        "train": [
            ("Guten Morgen", "de", "ui"),
            ("Good day", "en", "ui"),
            ("Hallo", "de", "names"),
            ("der und die", "de", "wordfreq"),
        ],
        "validation": [("Bonjour", "fr", "ui"), ("Tschüss", "de", "names")],
        "test": [("Hello there", "en", "ui"), ("Wie geht es", "de", "names")],
    }
    root.mkdir(parents=True, exist_ok=True)
    for split, items in rows.items():
        with open(root / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for text, label, source in items:
                f.write(json.dumps({"text": text, "label": label, "source": source}) + "\n")
    return root


def test_held_out_source_leaves_its_rows_out_of_training(tmp_path: Path) -> None:
    dm = text_datamodule(write_sourced_splits(tmp_path / "data"), held_out_source="names")
    raw = dm.load_raw()
    assert raw["train"] == (["Guten Morgen", "Good day", "der und die"], ["de", "en", "de"])
    assert raw["validation"] == (["Bonjour"], ["fr"])
    assert raw["test"] == (["Wie geht es"], ["de"])  # the held-out source alone
    everything = text_datamodule(tmp_path / "data").load_raw()
    assert len(everything["train"][0]) == 4 and len(everything["test"][0]) == 2


def test_held_out_source_errors_name_the_fix(tmp_path: Path, csv_files) -> None:
    dm = text_datamodule(write_sourced_splits(tmp_path / "data"), held_out_source="wiki")
    with pytest.raises(ValueError, match=r"held_out_source='wiki' has no rows.*'names', 'ui'"):
        dm.load_raw()
    training_only = text_datamodule(tmp_path / "data", held_out_source="wordfreq")
    with pytest.raises(ValueError, match=r"'validation'.*wordfreq is a training-only source"):
        training_only.load_raw()
    with pytest.raises(ValueError, match=r"needs a 'source' column"):
        local_dm(tmp_path, csv_files, held_out_source="ui").load_raw()
