"""Tiny written-LID data, model config and trainer shared by the langid tests."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from tasks.harness.plain import to_plain
from tasks.langid.data.text_datamodule import LangIDTextDataModule
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


def write_jsonl_splits(root: Path, languages: list[str], n_train: int = 48) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for seed, (split, n) in enumerate((("train", n_train), ("validation", 12), ("test", 12))):
        rows = [{"text": t, "label": lang} for lang in languages for t in sentences(lang, n, seed)]
        with open(root / f"{split}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return root


def text_datamodule(root: Path, **options: Any) -> LangIDTextDataModule:
    """A datamodule of ``data=langid_text`` over the JSONL splits in ``root`` (no embedded
    corpus, every character kept, small batches), with ``options`` over it."""
    config = datamodule_options(
        "task=langid",
        "data=langid_text",
        f"data.root={root}",
        "data.corpus=null",
        "data.min_unit_freq=1",
        "data.batch_size=16",
        "data.eval_batch_size=32",
        "data.bucket_batches=4",
    )
    return LangIDTextDataModule(**(config | options))


TINY_TEXT = [
    # the written model of the tests on the real config: tiny, no dropout, constant LR
    "task=langid",
    "encoder.embedding_dim=8",
    "encoder.embedding_dropout=0.0",
    "encoder.conv_channels=10",
    "encoder.hidden_size=12",
    "encoder.attention_dim=8",
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
TINY_MODEL = model_config(*TINY_TEXT)
OPTIM = to_plain(composed(*TINY_TEXT).optim, "optim")


def tiny_trainer(run_dir: Path, max_epochs: int = 4) -> pl.Trainer:
    return pl.Trainer(
        default_root_dir=str(run_dir),
        max_epochs=max_epochs,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
    )
