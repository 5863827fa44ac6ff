"""Trainer precisions: a short fit of every task through ``scripts/train.py`` on CPU.

``32-true`` and ``bf16-mixed`` each train two steps and validate one batch of tiny models
with lstmkit variants on tiny local data (no corpus generation); ``16-mixed`` has no CPU
implementation and is refused with a clear message.
"""

from __future__ import annotations

import csv
import json
import math
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.harness.conftest import run_entry_point
from tests.langid.langid_helpers import write_jsonl_splits

SAMPLE_RATE = 16000
WORDS = ["a cab", "bad", "dab ace", "cede", "bead a", "deed"]
LANGUAGES = {"aa": 300.0, "bb": 900.0}  # spoken "languages": tones of these frequencies


def write_wav(path: Path, seconds: float, frequency: float, seed: int) -> None:
    """A tone in noise, 16-bit mono."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    audio = 0.3 * np.sin(2 * np.pi * frequency * t) + 0.05 * rng.standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(SAMPLE_RATE)
        f.writeframes((audio * 32767).astype("<i2").tobytes())


SPLIT_SIZES = {"train": 8, "validation": 4, "test": 4}


def speech_folder(root: Path) -> Path:
    """An audiofolder: ``<split>/clip<i>.wav`` and ``metadata.csv`` with transcripts."""
    for split, n in SPLIT_SIZES.items():
        rows = []
        for i in range(n):
            write_wav(root / split / f"clip{i}.wav", 0.4 + 0.05 * i, 200.0 + 50 * i, seed=i)
            rows.append({"file_name": f"clip{i}.wav", "transcription": WORDS[i % len(WORDS)]})
        with open(root / split / "metadata.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["file_name", "transcription"])
            writer.writeheader()
            writer.writerows(rows)
    return root


def spoken_langid_folder(root: Path) -> Path:
    """VoxLingua107's layout: ``<split>/<language>/<clip>.wav``."""
    for split, n in SPLIT_SIZES.items():
        for language, frequency in LANGUAGES.items():
            for i in range(n // 2):
                write_wav(root / split / language / f"{i}.wav", 0.5, frequency, seed=i)
    return root


def speech(root: Path) -> list[str]:
    data = speech_folder(root / "speech_folder")
    return [
        "task=speech",
        "data=speech_audiofolder",
        f"data.dataset.data_dir={data}",
        f"data.cache_dir={root}/speech_cache",
        "data.batch_size=4",
        "data.eval_batch_size=4",
        "encoder.hidden_size=16",
        "encoder.num_layers=2",
        "+encoder.lstm_options.layer_norm=true",
        "+encoder.lstm_options.zoneout=0.1",
        "model.decoding.beam_size=2",
        "model.decoding.lm_order=0",
        "model.decoding.char_lm_order=0",
    ]


def langid(root: Path) -> list[str]:
    data = write_jsonl_splits(root / "langid_text", ["aa", "bb"], n_train=8)
    return [
        "task=langid",
        "data=langid_local",
        "data.dataset.path=json",
        *(
            f"data.dataset.data_files.{split}={data / split}.jsonl"
            for split in ("train", "validation", "test")
        ),
        "data.min_unit_freq=1",
        "data.batch_size=8",
        "data.eval_batch_size=8",
        "encoder.embedding_dim=8",
        "encoder.conv_channels=8",
        "encoder.hidden_size=8",
        "encoder.attention_dim=8",
        "+encoder.lstm_options.peephole=true",
        "+encoder.lstm_options.recurrent_dropout=0.1",
    ]


def langid_spoken(root: Path) -> list[str]:
    data = spoken_langid_folder(root / "spoken")
    return [
        "experiment=langid_spoken",
        "data.corpus=null",
        f"data.data_dir={data}",
        "data.batch_size=4",
        "data.eval_batch_size=4",
        "encoder.hidden_size=8",
        "encoder.num_layers=2",
        "encoder.attention_dim=8",
        "+encoder.lstm_options.layer_norm=true",
    ]


def captioning(root: Path) -> list[str]:
    return [
        "task=captioning",
        "data.source.split_sizes={train: 8, validation: 4, test: 4, test_novel: 4}",
        "data.image_size=32",
        "data.batch_size=4",
        "data.eval_batch_size=4",
        "encoder.channels=[8,16]",
        "model.decoder.hidden_size=16",
        "model.decoder.embedding_size=8",
        "model.decoder.attention_size=8",
        "model.decoding.max_len=6",
    ]


TASKS: dict[str, Callable[[Path], list[str]]] = {
    "speech": speech,
    "langid": langid,
    "langid_spoken": langid_spoken,
    "captioning": captioning,
}


def short_fit(root: Path, task_overrides: list[str], precision: str) -> Path:
    """Two training steps and one validation batch; returns the run directory."""
    run_entry_point(
        "train",
        [
            *task_overrides,
            f"paths.root_dir={root}",
            f"trainer.precision={precision}",
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=2",
            "trainer.limit_val_batches=1",
            "trainer.num_sanity_val_steps=0",
            "trainer.log_every_n_steps=1",
            "trainer.enable_model_summary=false",
            "callbacks.progress_bar.refresh_rate=0",
            "test=false",
        ],
    )
    (run,) = (root / "outputs").glob("*/runs/*")
    return run


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
@pytest.mark.parametrize("task", list(TASKS))
def test_short_fit_at_each_cpu_precision(task: str, precision: str, tmp_path: Path) -> None:
    run = short_fit(tmp_path, TASKS[task](tmp_path), precision)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["global_step"] == 2
    monitor = next(key for key in summary if key.startswith("best/"))
    assert math.isfinite(summary[monitor]), monitor
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    key = "train/loss_step" if "train/loss_step" in rows[0] else "train/loss"
    losses = [float(row[key]) for row in rows if row[key]]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    # mixed precision keeps float32 weights: the checkpoint holds no bfloat16 parameter
    state = torch.load(summary["checkpoint"], map_location="cpu", weights_only=True)["state_dict"]
    assert {t.dtype for t in state.values() if t.is_floating_point()} == {torch.float32}


def test_fp16_mixed_is_refused_on_cpu(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="16-mixed: float16 mixed precision needs a GPU"):
        short_fit(tmp_path, langid(tmp_path), "16-mixed")
