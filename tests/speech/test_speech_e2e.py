"""Tiny end-to-end speech run through the harness: generate, train, test, eval, predict."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

from tests.harness.gate_outputs import check_gate_outputs

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def run_entry_point(script: str, args: list[str]) -> None:
    from scripts import eval as eval_script
    from scripts import predict as predict_script
    from scripts import train as train_script

    main = {"train": train_script, "eval": eval_script, "predict": predict_script}[script].main
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", [f"{script}.py", *args])
        main()


def read_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_tiny_speech_train_eval_predict_and_streaming(tmp_path: Path) -> None:
    common = [
        "task=speech",
        f"paths.root_dir={tmp_path}",
        "data.corpus.n_train=16",
        "data.corpus.n_val=4",
        "data.corpus.n_test=4",
        "data.corpus.babble_utterances=4",
        "data.corpus.workers=1",
        f"data.corpus.root={tmp_path}/data/speech_synth",
        f"data.cache_dir={tmp_path}/data/speech_cache",
        "data.batch_size=8",
        "data.eval_batch_size=8",
    ]
    run_entry_point(
        "train",
        [
            *common,
            "encoder=speech/uni_lstm",
            "encoder.hidden_size=24",
            "encoder.num_layers=1",
            "model.decoding.beam_size=3",
            "trainer.max_epochs=2",
            "callbacks.progress_bar.refresh_rate=0",
            "trainer.enable_model_summary=false",
            "trainer.log_every_n_steps=1",
        ],
    )
    (run,) = (tmp_path / "outputs" / "speech" / "runs").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    for key in ("test/cer", "test/wer", "test/greedy_cer", "test/greedy_wer", "test/loss"):
        assert math.isfinite(summary[key]), key
    assert summary["test/cer"] >= 0.0 and summary["global_step"] == 2 * 2

    checkpoint = torch.load(summary["checkpoint"], weights_only=True)
    artifacts = checkpoint["hyper_parameters"]["artifacts"]
    lm_text = next((tmp_path / "data").rglob("lm_text.txt")).read_text().splitlines()
    # the LMs' text travels in the checkpoint: the 16 training transcripts and the corpus's
    # LM text (every source sentence but the held-out ones) spelled with the vocabulary
    assert len(artifacts["transcripts"]) == 16
    letters = set(artifacts["vocabulary"]["itos"])
    assert artifacts["lm_text"] == [t for t in lm_text if set(t) <= letters]
    assert len(artifacts["lm_text"]) > len(lm_text) // 2

    run_entry_point("eval", [*common, f"ckpt={summary['checkpoint']}"])
    (eval_dir,) = (tmp_path / "outputs" / "speech" / "evals").iterdir()
    evaluated = json.loads((eval_dir / "summary.json").read_text())
    assert evaluated["test/cer"] == pytest.approx(summary["test/cer"])

    test_audio = sorted((tmp_path / "data").rglob("test/*.flac"))[:2]
    assert test_audio, "the generated corpus must hold test audio"
    whole, streamed = tmp_path / "whole.jsonl", tmp_path / "streamed.jsonl"
    for output, extra in ((whole, []), (streamed, ["+options.streaming=true"])):
        run_entry_point(
            "predict",
            [f"ckpt={run}", f"input={test_audio[0].parent}", f"output={output}", *extra],
        )
    records = read_records(whole)
    assert len(records) == len(list(test_audio[0].parent.glob("*.flac")))
    for record in records:
        assert set(record) >= {"input", "text", "words", "score", "duration"}
        assert [w["word"] for w in record["words"]] == record["text"].split()
        for word in record["words"]:
            assert 0.0 <= word["start"] < word["end"] <= record["duration"] + 0.05
    assert [(r["text"], r["words"]) for r in read_records(streamed)] == [
        (r["text"], r["words"]) for r in records
    ]

    with_gates = tmp_path / "gates.jsonl"
    run_entry_point(
        "predict",
        [
            f"ckpt={run}",
            f"input={test_audio[0]}",
            f"output={with_gates}",
            "gates=true",
            f"gates_dir={tmp_path / 'gates'}",
        ],
    )
    (record,) = read_records(with_gates)
    same_input = next(r for r in records if r["input"] == record["input"])
    assert (record["text"], record["words"]) == (same_input["text"], same_input["words"])
    check_gate_outputs(record, layers=1, directions=1)


def test_predict_names_a_bad_file(tmp_path: Path) -> None:
    from tasks.speech.module import SpeechModule
    from tests.serving.tiny_models import model_config

    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really audio")
    module = SpeechModule(
        model=model_config("task=speech", "encoder.hidden_size=8", "encoder.num_layers=1"),
        optim={},
        artifacts={
            "vocabulary": {"itos": ["<blank>", " ", "a"], "n_specials": 1, "unk": None},
            "cmvn": {"mean": [0.0] * 80, "std": [1.0] * 80},
            "sample_rate": 16000,
            "features": {"sample_rate": 16000, "n_mels": 80},
        },
    ).eval()
    (record,) = module.predict_items([str(bad)], {})
    assert record["input"] == str(bad) and record["reason"] == "corrupt"
    assert "broken.wav" in record["error"] and "text" not in record
