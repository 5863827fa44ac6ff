"""Tiny end-to-end written LID through the entry points: train, test report, eval, predict
(incl. bad input), fine-tune."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tasks.harness.checkpoint import load_checkpoint, load_module
from tasks.harness.finetune import init_from
from tasks.harness.predict import InputError, expand_inputs
from tasks.langid.model.pooling import build_pooling
from tasks.langid.module import LangIDModule
from tests.harness.conftest import run_entry_point
from tests.harness.gate_outputs import check_gate_outputs, run_predict
from tests.langid.langid_helpers import (
    OPTIM,
    TINY_MODEL,
    sentences,
    text_datamodule,
    write_jsonl_splits,
)


def test_train_writes_test_metrics_report_and_a_checkpoint_eval_reads(
    trained_text, tmp_path: Path
) -> None:
    summary, run_dir = trained_text.summary, trained_text.run_dir
    assert summary["global_step"] == 18  # one epoch: 144 training texts in batches of 8
    assert summary["test/acc"] >= 0.9  # disjoint alphabets are trivially separable
    assert summary["test/macro_f1"] >= 0.9
    assert 0 < summary["test/n_short"] <= summary["test/n"] == 36
    table = (run_dir / "langid_per_language.md").read_text()
    assert all(f"| {lang} |" in table for lang in ("aa", "bb", "cc"))
    assert (run_dir / "plots" / "langid_confusion.png").stat().st_size > 1000
    # a checkpoint alone rebuilds the module, weights_only
    artifacts = load_checkpoint(trained_text.checkpoint)["hyper_parameters"]["artifacts"]
    assert artifacts["labels"] == ["aa", "bb", "cc"]
    # without task=, scripts/eval.py takes task and data from the checkpoint: same metrics
    run_entry_point("eval", [f"paths.root_dir={tmp_path}", f"ckpt={trained_text.checkpoint}"])
    # ... and files its outputs under the checkpoint's task, not the default one
    (eval_summary,) = (tmp_path / "outputs").glob("*/evals/*/summary.json")
    assert eval_summary.parents[2].name == "langid"
    evaluated = json.loads(eval_summary.read_text())
    assert evaluated["task"] == "langid"
    assert evaluated["test/acc"] == pytest.approx(summary["test/acc"])
    assert evaluated["test/n"] == summary["test/n"]


def test_predict_records_and_bad_input(trained_text) -> None:
    module = load_module(trained_text.checkpoint)
    good = sentences("bb", 1, seed=7)[0]
    oversized = ("абвг " * 30).strip()
    inputs = [good, "", "   ", "12345", "?!...", oversized]
    with torch.inference_mode():
        records = list(module.predict_items(inputs, {}))
    assert [r["input"] for r in records] == inputs
    assert records[0]["language"] == "bb"
    assert len(records[0]["top_k"]) == 2  # model.predict.top_k
    assert sum(x["probability"] for x in records[0]["top_k"]) <= 1.0 + 1e-6
    for record in records[1:5]:
        assert record["language"] == "und" and record["top_k"] == [] and "notice" in record
    assert records[5]["language"] == "cc"
    assert records[5]["notice"] == f"input of {len(oversized)} characters truncated to 40"
    records = list(module.predict_items([good], {"top_k": 3}))
    assert len(records[0]["top_k"]) == 3  # predict options override the checkpoint's defaults


def test_invalid_utf8_input_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "texts.txt"
    path.write_bytes(b"bonjour\nhallo\n" + b"caf\xe9\n")
    with pytest.raises(InputError, match=r"texts.txt: line 3 is not valid UTF-8"):
        expand_inputs(str(path), None, "text")


def test_finetune_to_one_new_language_keeps_old_rows(trained_text, tmp_path: Path) -> None:
    old_module, checkpoint = trained_text.module, trained_text.checkpoint
    dm = text_datamodule(write_jsonl_splits(tmp_path / "data", ["aa", "bb", "cc", "dd"], 16))
    dm.setup("fit")
    module = LangIDModule(model=TINY_MODEL, optim=OPTIM, artifacts=dm.artifacts())
    assert module.labels == ["aa", "bb", "cc", "dd"]
    rows = {name: status for name, status, _ in init_from(module, str(checkpoint))}
    assert rows["model.head.weight"] == "remapped"
    old_head = old_module.model.head.weight.detach()
    new_head = module.model.head.weight.detach()
    assert new_head.shape[0] == old_head.shape[0] + 1  # the head grew by one row
    torch.testing.assert_close(new_head[:3], old_head)  # old languages keep their weights
    torch.testing.assert_close(module.model.head.bias[:3], old_module.model.head.bias)
    assert not torch.equal(new_head[3], torch.zeros_like(new_head[3]))  # new row initialised
    # input symbols follow the vocabulary too: shared characters keep their embedding rows
    old_vocab, new_vocab = old_module.vocabulary, module.vocabulary
    shared = [c for c in "abc" if c in old_vocab and c in new_vocab]
    for char in shared:
        torch.testing.assert_close(
            module.model.frontend.embedding.weight[new_vocab.index(char)],
            old_module.model.frontend.embedding.weight[old_vocab.index(char)],
        )
    torch.testing.assert_close(
        module.model.encoder.lstm.weight_hh_l0, old_module.model.encoder.lstm.weight_hh_l0
    )


@pytest.mark.parametrize("kind", ["attention", "mean", "stats", "last"])
def test_pooling_ignores_padding(kind: str) -> None:
    torch.manual_seed(0)
    pooling = build_pooling(kind, 6, 4)
    states = torch.randn(2, 5, 6)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    final = torch.randn(2, 6)
    padded_changed = states.clone()
    padded_changed[0, 3:] = 100.0
    torch.testing.assert_close(pooling(states, mask, final), pooling(padded_changed, mask, final))


def test_mismatched_encoder_and_data_is_a_clear_error(trained_text) -> None:
    artifacts = {**trained_text.module.hparams["artifacts"], "modality": "audio"}
    with pytest.raises(
        ValueError, match="encoder=text_bilstm reads text input but the data is audio"
    ):
        LangIDModule(model=TINY_MODEL, optim=OPTIM, artifacts=artifacts)


def test_predict_with_gates_draws_the_gates_under_the_characters(trained_text, tmp_path) -> None:
    checkpoint = trained_text.checkpoint
    output, gates = tmp_path / "predictions.jsonl", tmp_path / "gates"
    run_predict(
        [
            f"paths.root_dir={tmp_path}",
            f"ckpt={checkpoint}",
            "text=aaa aab aaa",
            f"output={output}",
            "gates=true",
            f"gates_dir={gates}",
        ]
    )
    (record,) = [json.loads(line) for line in output.read_text().splitlines()]
    # 11 characters through the front-end's stride-2 convolution: 6 LSTM steps
    arrays = check_gate_outputs(record, layers=1, directions=2, steps=6)
    assert arrays["l0_forward_f"].shape == (6, 12)
    assert Path(record["gates"]["figure"]).parent == gates
