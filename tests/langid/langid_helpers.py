"""Tiny written-LID data, tiny model configs and training runs shared by the langid tests."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from tasks.harness.checkpoint import load_module
from tasks.harness.plain import to_plain
from tasks.harness.summary import read_summary
from tasks.langid.data.text_datamodule import LangIDTextDataModule
from tasks.langid.module import LangIDModule
from tests.harness.conftest import run_dirs, run_entry_point
from tests.serving.tiny_models import composed, datamodule_options, model_config

# Three toy "languages" with disjoint alphabets, so a few steps separate them.
ALPHABETS = {"aa": "abcdefg", "bb": "ÿþðæøåß", "cc": "абвгдеж", "dd": "αβγδεζη"}


def sentences(language: str, n: int, seed: int) -> list[str]:
    rng = random.Random(f"{language}-{seed}")
    letters = ALPHABETS[language]
    return [
        " ".join(
            "".join(rng.choice(letters) for _ in range(rng.randint(2, 6)))
            for _ in range(rng.randint(1, 5))
        )
        for _ in range(n)
    ]


def write_jsonl_splits(
    root: Path, languages: list[str], n_train: int | Mapping[str, int] = 48
) -> Path:
    """Train/validation/test JSONL files; ``n_train`` training rows per language (one count
    for all, or one per language), 12 validation and test rows each."""
    root.mkdir(parents=True, exist_ok=True)
    train = n_train if isinstance(n_train, Mapping) else dict.fromkeys(languages, n_train)
    sizes = {"train": train, "validation": dict.fromkeys(languages, 12)}
    sizes["test"] = sizes["validation"]
    for seed, (split, per_language) in enumerate(sizes.items()):
        rows = [
            {"text": t, "label": lang}
            for lang in languages
            for t in sentences(lang, per_language[lang], seed)
        ]
        with open(root / f"{split}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return root


def text_datamodule(root: Path, **options: Any) -> LangIDTextDataModule:
    """A datamodule of ``data=langid_text`` over the JSONL splits in ``root`` (no embedded
    corpus, no extra training rows, every character kept, small batches), with ``options``
    over it."""
    config = datamodule_options(
        "task=langid",
        "data=langid_text",
        f"data.root={root}",
        "data.corpus=null",
        "data.augmentation=null",
        "data.min_unit_freq=1",
        "data.batch_size=16",
        "data.eval_batch_size=32",
        "data.bucket_batches=4",
    )
    return LangIDTextDataModule(**(config | options))


TINY_LANGID = [
    # the model and optimiser of the tests on the real config: no dropout, constant LR
    "model.classifier_dropout=0.0",
    "model.label_smoothing=0.0",
    "model.predict.top_k=2",
    "model.predict.max_chars=40",
    "optim.lr=0.02",
    "optim.weight_decay=0.0",
    "optim.scheduler.name=constant",
    "optim.scheduler.warmup=0.0",
    "optim.scheduler.initial_lr_ratio=1.0",
    "optim.scheduler.min_lr_ratio=1.0",
]
TINY_TEXT = [
    # the written model, tiny, on its training rows alone (one epoch = the rows' batches)
    "task=langid",
    *TINY_LANGID,
    "data.augmentation=null",
    "encoder.embedding_dim=8",
    "encoder.embedding_dropout=0.0",
    "encoder.conv_channels=10",
    "encoder.hidden_size=12",
    "encoder.attention_dim=8",
    "encoder.ngram_buckets=4096",
]
TINY_SPOKEN = [
    # the spoken model, tiny, on 20 mel bins of clips cut to 1.5 s
    "experiment=langid_spoken",
    *TINY_LANGID,
    "encoder.spec_augment.freq_masks=1",
    "encoder.spec_augment.freq_width=3",
    "encoder.spec_augment.time_masks=1",
    "encoder.spec_augment.time_width=5",
    "encoder.subsampling=conv",
    "encoder.conv_channels=4",
    "encoder.hidden_size=12",
    "encoder.num_layers=1",
    "encoder.dropout=0.0",
    "encoder.pooling=mean",
    "encoder.attention_dim=8",
    "data.features.n_mels=20",
    "data.features.max_seconds=1.5",
]
TINY_MODEL = model_config(*TINY_TEXT)
OPTIM = to_plain(composed(*TINY_TEXT).optim, "optim")


class TrainedRun(NamedTuple):
    module: LangIDModule
    """The model loaded from ``checkpoint``, in eval mode."""
    run_dir: Path
    checkpoint: Path
    summary: dict


def train_langid(root: Path, *overrides: str) -> TrainedRun:
    """``scripts/train.py`` with ``overrides`` in this process, under ``root`` (no progress
    bar or model summary): its run and the best checkpoint, which the run has tested."""
    quiet = ["callbacks.progress_bar.refresh_rate=0", "trainer.enable_model_summary=false"]
    run_entry_point("train", [*overrides, *quiet, f"paths.root_dir={root}"])
    (run_dir,) = run_dirs(root, "langid")
    summary = read_summary(run_dir)
    checkpoint = Path(summary["checkpoint"])
    return TrainedRun(load_module(checkpoint).eval(), run_dir, checkpoint, summary)


def write_mo(path: Path, messages: dict[str, str]) -> None:
    """A minimal little-endian GNU .mo file (format of `msgfmt`)."""
    entries = sorted({"": "Content-Type: text/plain; charset=UTF-8\n", **messages}.items())
    ids = [k.encode() for k, _ in entries]
    strs = [v.encode() for _, v in entries]
    n = len(entries)
    header = 28
    id_table = header
    str_table = id_table + 8 * n
    data_start = str_table + 8 * n
    blob = b""
    id_offsets, str_offsets = [], []
    for s in ids:
        id_offsets.append((len(s), data_start + len(blob)))
        blob += s + b"\0"
    for s in strs:
        str_offsets.append((len(s), data_start + len(blob)))
        blob += s + b"\0"
    out = bytearray()
    for value in (0x950412DE, 0, n, id_table, str_table, 0, 0):
        out += value.to_bytes(4, "little")
    for length, offset in id_offsets + str_offsets:
        out += length.to_bytes(4, "little") + offset.to_bytes(4, "little")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out) + blob)
