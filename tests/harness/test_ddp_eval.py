"""``scripts/eval.py`` with ``trainer=ddp_cpu`` (2 processes over gloo) gives the same
corpus-level metrics as a 1-process evaluation of the same checkpoint, for every task.

Each test split is sized so that the ranks get different numbers of batches: a sampler that
padded the shards by repeating batches would score some samples twice, and per-rank metrics
averaged across ranks would differ from the corpus metric."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.conftest import REPO, read_json, run_entry_point

CORPUS_METRICS = {
    "speech": ["test/cer", "test/wer", "test/greedy_cer", "test/greedy_wer"],
    "captioning": ["test/bleu4", "test/cider_d", "test/greedy_bleu4", "test/novel_cider_d"],
    "langid": ["test/acc", "test/macro_f1", "test/acc_short", "test/n"],
    "langid_spoken": ["test/acc", "test/macro_f1"],
}


def speech_overrides(root: Path) -> list[str]:
    return [
        "task=speech",
        "data.corpus.n_train=8",
        "data.corpus.n_val=2",
        "data.corpus.n_test=5",  # 3 batches of 2: rank 0 gets 2, rank 1 gets 1
        "data.corpus.babble_utterances=4",
        "data.corpus.workers=1",
        "data.batch_size=8",
        "data.eval_batch_size=2",
        "encoder=speech/uni_lstm",
        "encoder.hidden_size=16",
        "encoder.num_layers=1",
        "model.decoding.beam_size=2",
    ]


def captioning_overrides(root: Path) -> list[str]:
    return [
        "task=captioning",
        # 5 + 2 test images in batches of 3: 3 batches
        "data.source.split_sizes={train: 8, validation: 2, test: 5, test_novel: 2}",
        "data.image_size=32",
        "data.batch_size=8",
        "data.eval_batch_size=3",
        "encoder.channels=[8,16]",
        "model.decoder.hidden_size=16",
        "model.decoder.embedding_size=8",
        "model.decoder.attention_size=8",
        "model.decoding.max_len=6",
    ]


def langid_overrides(root: Path) -> list[str]:
    from tests.langid.langid_helpers import write_jsonl_splits

    data = write_jsonl_splits(root / "langid_jsonl", ["aa", "bb", "cc"], n_train=8)
    return [
        "task=langid",
        f"data.root={data}",
        "data.corpus=null",
        "data.augmentation.mixed_per_language=0",  # 1,000 per language would swamp the toy rows
        "data.min_unit_freq=1",
        "data.batch_size=8",
        "data.eval_batch_size=13",  # 36 test texts: 3 batches (13, 13, 10)
        "data.bucket_batches=2",
        "model.short_text_chars=12",
        *tiny_encoder(),
        "encoder.embedding_dim=8",
    ]


def langid_spoken_overrides(root: Path) -> list[str]:
    from tasks.langid.data.spoken_corpus import build_spoken_corpus
    from tests.langid.test_spoken import settings, text_corpus

    clips = build_spoken_corpus(root / "spoken", text_corpus(root / "text"), settings())
    return [
        "experiment=langid_spoken",
        "data.corpus=null",
        f"data.data_dir={clips}",
        "data.features.n_mels=20",
        "data.features.max_seconds=1.5",
        "data.batch_size=4",
        "data.eval_batch_size=3",  # 4 test clips: batches of 3 and 1, one per rank
        *tiny_encoder(),
    ]


def tiny_encoder() -> list[str]:
    return [
        "encoder.hidden_size=8",
        "encoder.num_layers=1",
        "encoder.attention_dim=8",
        "encoder.conv_channels=8",
    ]


def new_eval_summary(root: Path, before: set[Path]) -> dict:
    (run_dir,) = set(root.glob("outputs/*/evals/*")) - before
    return read_json(run_dir / "summary.json")


def evaluate_in_two_processes(root: Path, checkpoint: str) -> dict:
    """``scripts/eval.py trainer=ddp_cpu`` as a subprocess; its ``summary.json``."""
    before = set(root.glob("outputs/*/evals/*"))
    paths = [str(REPO), str(REPO / "core" / "src"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    command = [sys.executable, str(REPO / "scripts" / "eval.py"), *eval_args(root, checkpoint)]
    done = subprocess.run(
        [*command, "trainer=ddp_cpu"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return new_eval_summary(root, before)


def evaluate_in_one_process(root: Path, checkpoint: str) -> dict:
    before = set(root.glob("outputs/*/evals/*"))
    run_entry_point("eval", eval_args(root, checkpoint))
    return new_eval_summary(root, before)


def eval_args(root: Path, checkpoint: str) -> list[str]:
    return [f"ckpt={checkpoint}", f"paths.root_dir={root}", "callbacks.progress_bar.refresh_rate=0"]


# One task in the default suite (the shared sampler/gather path); the other tasks' corpus
# metrics over two processes run with -m slow.
DEFAULT_SUITE_TASK = "langid"


@pytest.mark.parametrize(
    "task",
    [
        t if t == DEFAULT_SUITE_TASK else pytest.param(t, marks=pytest.mark.slow)
        for t in sorted(CORPUS_METRICS)
    ],
)
def test_two_process_eval_equals_one_process_eval(task: str, tmp_path: Path) -> None:
    overrides = globals()[f"{task}_overrides"](tmp_path)
    run_entry_point(
        "train",
        [
            *overrides,
            f"paths.root_dir={tmp_path}",
            "trainer.max_epochs=1",
            "test=false",
            "callbacks.progress_bar.refresh_rate=0",
            "trainer.enable_model_summary=false",
        ],
    )
    (checkpoint,) = tmp_path.glob("outputs/*/runs/*/checkpoints/last.ckpt")
    single = evaluate_in_one_process(tmp_path, str(checkpoint))
    double = evaluate_in_two_processes(tmp_path, str(checkpoint))
    for name in CORPUS_METRICS[task]:
        assert double[name] == single[name], name
    if "test/loss" in single:  # a mean over batches: equal up to the order of the sums
        assert double["test/loss"] == pytest.approx(single["test/loss"], rel=1e-5)
