import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from tasks.speech.data.corpus import (
    LM_TEXT_FILE,
    SpeechSynthConfig,
    corpus_dir,
    corpus_lm_text,
    plan_corpus,
    prepare_speech_synth,
    split_voices,
)

SENTENCES = """\
The printer is out of paper.
Please insert a blank disc into the drive.
Your password will expire in three days.
Could not connect to the remote server.
The download has finished successfully.
Do you want to keep these display settings?
Select the folder that contains the pictures.
The battery is almost empty.
Move the selected items to the trash.
Check your network connection and try again.
This document has unsaved changes.
Choose a language for the keyboard layout.
The update will restart the computer.
Show hidden files in the file manager.
Remember the last window size and position.
Search the web for the selected text.
Open Folder
"""


def tiny_config(root: Path, sentences_file: Path, workers: int = 1) -> SpeechSynthConfig:
    return SpeechSynthConfig(
        root=str(root),
        seed=7,
        n_train=6,
        n_val=2,
        n_test=3,
        voices={
            "train": ["en+m1", "en-us+f2"],
            "validation": ["en+f3"],
            "test": ["en-us+m3", "en+croak"],
        },
        rate=(170, 220),
        babble_utterances=2,
        sentences_file=str(sentences_file),
        workers=workers,
    )


@pytest.fixture(scope="module")
def sentences_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("text") / "sentences.txt"
    path.write_text(SENTENCES)
    return path


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory, sentences_file: Path) -> Path:
    root = tmp_path_factory.mktemp("generated")
    return prepare_speech_synth(tiny_config(root, sentences_file, workers=2))


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _rows(folder: Path, split: str) -> list[dict[str, str]]:
    with open(folder / split / "metadata.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_generation_is_deterministic(generated, tmp_path, sentences_file) -> None:
    one = generated
    two = prepare_speech_synth(tiny_config(tmp_path / "b", sentences_file, workers=2))
    assert one.name == two.name
    digest = _digest(one)
    assert digest == _digest(two)
    assert len([name for name in digest if name.endswith(".flac")]) == 6 + 2 + 3

    # cached: a second call finds the COMPLETE marker and rewrites nothing
    marker = one / "COMPLETE"
    stamp = marker.stat().st_mtime_ns
    assert prepare_speech_synth(tiny_config(one.parent, sentences_file, workers=2)) == one
    assert marker.stat().st_mtime_ns == stamp
    summary = json.loads(marker.read_text())
    assert summary["splits"]["train"]["utterances"] == 6
    assert summary["hours"] > 0

    # audio: 16 kHz mono 16-bit, plausible speech durations, peak at the planned level
    for row in _rows(one, "train"):
        info = sf.info(one / "train" / row["file_name"])
        assert info.samplerate == 16000 and info.channels == 1 and info.subtype == "PCM_16"
        assert 0.8 < info.duration < 6.0
        assert row["voice"] in ("en+m1", "en-us+f2")

    # another seed gives another corpus in another folder
    other = tiny_config(one.parent, sentences_file, workers=2)
    other.seed = 8
    assert corpus_dir(other) != one


def test_splits_hold_out_sentences_and_voices(generated) -> None:
    folder = generated
    rows = {split: _rows(folder, split) for split in ("train", "validation", "test")}
    texts = {split: {r["transcription"] for r in rs} for split, rs in rows.items()}
    voices = {split: {r["voice"] for r in rs} for split, rs in rows.items()}
    assert not texts["train"] & texts["test"] and not texts["train"] & texts["validation"]
    assert not texts["validation"] & texts["test"]
    assert not voices["train"] & voices["test"] and not voices["train"] & voices["validation"]
    assert len(texts["test"]) == 3  # one sentence per held-out utterance
    for split_rows in rows.values():
        for row in split_rows:
            assert set(row["transcription"]) <= set("abcdefghijklmnopqrstuvwxyz' ")


def test_plan_rejects_shared_voices_and_too_few_sentences(tmp_path, sentences_file) -> None:
    cfg = tiny_config(tmp_path, sentences_file)
    cfg.voices = {"train": ["en+m1"], "validation": ["en+f3"], "test": ["en+m1"]}
    with pytest.raises(ValueError, match=r"voices \['en\+m1'\] are in both 'train' and 'test'"):
        plan_corpus(cfg, ["one two three four"] * 10)
    cfg = tiny_config(tmp_path, sentences_file)
    with pytest.raises(ValueError, match="only 2 usable sentences"):
        plan_corpus(cfg, ["a b c d", "e f g h"])


def test_lm_text_holds_every_source_sentence_but_the_held_out_ones(generated) -> None:
    lm_text = (generated / LM_TEXT_FILE).read_text().splitlines()
    held_out = {
        r["transcription"] for split in ("validation", "test") for r in _rows(generated, split)
    }
    train = {r["transcription"] for r in _rows(generated, "train")}
    assert not held_out & set(lm_text)
    assert train <= set(lm_text)
    # the two-word UI string is too short for the spoken pool but is LM text
    assert "open folder" in lm_text and "open folder" not in train
    assert len(lm_text) == len(SENTENCES.splitlines()) - len(held_out)
    assert lm_text == sorted(lm_text)


def test_lm_text_is_written_into_an_older_complete_corpus(generated, tmp_path, sentences_file):
    copy = tmp_path / generated.name
    shutil.copytree(generated, copy)
    (copy / LM_TEXT_FILE).unlink()
    marker = (copy / "COMPLETE").stat().st_mtime_ns
    assert prepare_speech_synth(tiny_config(tmp_path, sentences_file, workers=2)) == copy
    assert (copy / LM_TEXT_FILE).read_text() == (generated / LM_TEXT_FILE).read_text()
    assert (copy / "COMPLETE").stat().st_mtime_ns == marker  # the audio was not rendered again


def test_corpus_lm_text_normalises_and_drops_held_out() -> None:
    messages = ["Delete 3 files? Cancel", "Keep the %s file", "Show hidden files in the list."]
    got = corpus_lm_text(messages, held_out=["show hidden files in the list"])
    assert got == ["cancel", "delete three files"]


def test_whispered_training_voices_join_the_training_split(tmp_path, sentences_file) -> None:
    cfg = tiny_config(tmp_path, sentences_file)
    plain = corpus_dir(cfg)
    cfg.n_train = 40
    cfg.whispered = ("en-us+f2",)
    assert split_voices(cfg)["train"] == ["en+m1", "en-us+f2", "en-us+f2-whisper"]
    specs, _ = plan_corpus(cfg, SENTENCES.splitlines())
    assert "en-us+f2-whisper" in {s.voice for s in specs if s.split == "train"}
    assert corpus_dir(cfg) != plain
    cfg.whispered = ("en+f3",)
    with pytest.raises(ValueError, match=r"whispered voice 'en\+f3' is not a training voice"):
        split_voices(cfg)
