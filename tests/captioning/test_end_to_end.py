"""Tiny captioning runs through the real entry points: train, eval, predict, fine-tune frozen."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
import torch

from tasks.harness.checkpoint import load_module
from tests.harness.gate_outputs import check_gate_outputs

TINY = [
    "task=captioning",
    "data.source.split_sizes={train: 16, validation: 4, test: 4, test_novel: 4}",
    "data.image_size=32",
    "data.batch_size=8",
    "data.eval_batch_size=8",
    "encoder.channels=[8,16]",
    "model.decoder.hidden_size=16",
    "model.decoder.embedding_size=8",
    "model.decoder.attention_size=8",
    "model.decoding.max_len=6",
    "trainer.max_epochs=1",
]


def run_entry_point(script: str, args: list[str]) -> None:
    main = importlib.import_module(f"scripts.{script}").main
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", [f"{script}.py", *args])
        main()


def only_new_dir(parent: Path, before: set[Path]) -> Path:
    (new,) = set(parent.iterdir()) - before
    return new


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("captioning")
    run_entry_point("train", [*TINY, f"paths.root_dir={root}"])
    (run,) = (root / "outputs" / "captioning" / "runs").iterdir()
    return run


def test_train_eval_predict(tiny_run: Path, tmp_path: Path) -> None:
    root = tiny_run.parents[3]
    summary = json.loads((tiny_run / "summary.json").read_text())
    for split in ("", "novel_", "greedy_", "novel_greedy_"):
        for metric in ("bleu1", "bleu4", "cider_d"):
            assert 0.0 <= summary[f"test/{split}{metric}"] <= (1.0 if "bleu" in metric else 10.0)
    examples = [
        json.loads(x) for x in (tiny_run / "examples_test_novel.jsonl").read_text().splitlines()
    ]
    assert len(examples) == 4 and all(len(e["references"]) == 5 for e in examples)
    checkpoint = torch.load(summary["checkpoint"], map_location="cpu", weights_only=True)
    assert checkpoint["hyper_parameters"]["artifacts"]["vocabulary"]["itos"][:4] == [
        "<pad>",
        "<bos>",
        "<eos>",
        "<unk>",
    ]

    evals = root / "outputs" / "captioning" / "evals"
    before = set(evals.iterdir()) if evals.is_dir() else set()
    run_entry_point("eval", [*TINY, f"paths.root_dir={root}", f"ckpt={summary['checkpoint']}"])
    evaluated = json.loads((only_new_dir(evals, before) / "summary.json").read_text())
    assert evaluated["test/cider_d"] == pytest.approx(summary["test/cider_d"])
    assert evaluated["test/novel_bleu4"] == pytest.approx(summary["test/novel_bleu4"])

    images = root / "data" / "captioning_shapes" / "test"
    output, maps = tmp_path / "pred.jsonl", tmp_path / "maps"
    run_entry_point(
        "predict",
        [
            f"paths.root_dir={root}",
            f"ckpt={tiny_run}",
            f"input={images}",
            f"output={output}",
            "+options.attention_maps=true",
            f"+options.attention_dir={maps}",
            "+options.beam_size=2",
        ],
    )
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [Path(r["input"]).name for r in records] == [f"{i:05d}.png" for i in range(4)]
    for record in records:
        assert isinstance(record["caption"], str) and record["score"] <= 0.0
        if record["caption"]:
            assert Path(record["attention_map"]).stat().st_size > 0

    module = load_module(Path(summary["checkpoint"]))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ValueError, match=r"broken\.png"):
        list(module.predict_items([str(tmp_path / "broken.png")], {}))


def test_predict_with_gates_draws_the_decoder_gates_under_the_words(
    tiny_run: Path, tmp_path: Path
) -> None:
    root = tiny_run.parents[3]
    image = root / "data" / "captioning_shapes" / "test" / "00000.png"
    output, gates = tmp_path / "pred.jsonl", tmp_path / "gates"
    run_entry_point(
        "predict",
        [
            f"paths.root_dir={root}",
            f"ckpt={tiny_run}",
            f"input={image}",
            f"output={output}",
            "gates=true",
            f"gates_dir={gates}",
        ],
    )
    (record,) = [json.loads(line) for line in output.read_text().splitlines()]
    # one decoder step per generated word, and one for <eos>
    arrays = check_gate_outputs(
        record, layers=1, directions=1, steps=len(record["caption"].split()) + 1
    )
    assert arrays["l0_forward_c"].shape[1] == 16  # model.decoder.hidden_size


def test_finetune_from_checkpoint_with_frozen_encoder(tiny_run: Path) -> None:
    root = tiny_run.parents[3]
    start = load_module(tiny_run / "checkpoints" / "last.ckpt").state_dict()
    runs = root / "outputs" / "captioning" / "runs"
    before = set(runs.iterdir())
    run_entry_point(
        "train",
        [
            *TINY,
            f"paths.root_dir={root}",
            f"init_from={tiny_run}/checkpoints/last.ckpt",
            "freeze=[captioner.encoder]",
            "test=false",
        ],
    )
    tuned = load_module(only_new_dir(runs, before) / "checkpoints" / "last.ckpt").state_dict()
    encoder = [k for k in start if k.startswith("captioner.encoder.")]
    decoder = [
        k for k in start if k.startswith("captioner.decoder.") and start[k].is_floating_point()
    ]
    assert encoder and decoder
    for key in encoder:  # weights and batch-norm statistics
        assert torch.equal(tuned[key], start[key]), key
    assert any(not torch.equal(tuned[k], start[k]) for k in decoder)
