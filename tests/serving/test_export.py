"""Every task's export (ONNX and TorchScript) against its PyTorch model on the task's inputs:
same transcripts, languages and captions; log-probs and logits within tolerance."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from lstmkit.beam_search import beam_search
from tasks.audio.features import LogMel
from tasks.batching import pad_sequences
from tasks.harness.checkpoint import load_module
from tasks.harness.errors import ConfigError
from tasks.harness.export import export_module
from tasks.harness.exported import ExportedModel
from tasks.langid.data.text_units import encode_text
from tasks.langid.model.audio_frontend import utterance_features
from tasks.text.vocabulary import Vocabulary

pytest.importorskip("onnxruntime")
FORMATS = ["onnx", "torchscript"]
TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}


def exported(module, directory: Path, fmt: str) -> ExportedModel:
    export_module(module.export_graphs(), module.export_manifest(), directory, fmt)
    return ExportedModel(directory)


def waves(*seconds: float, rate: int = 16000) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [0.1 * torch.randn(int(s * rate), generator=generator) for s in seconds]


def padded(batch: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    values, lengths = pad_sequences(batch, 0.0)
    return {"waves": values, "lengths": lengths}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("encoder", ["blstm", "conv_blstm", "pblstm", "uni_lstm"])
def test_speech_export_transcribes_like_predict(tiny_checkpoint, tmp_path, encoder, fmt) -> None:
    overrides = ["encoder.conv_channels=4"] if encoder == "conv_blstm" else []
    module = load_module(tiny_checkpoint("speech", f"encoder=speech/{encoder}", *overrides))
    model = exported(module, tmp_path, fmt)
    manifest = model.manifest
    assert manifest["vocabulary"] == module.tokens and manifest["blank"] == 0
    assert manifest["graphs"]["model"]["inputs"][0] == {
        "name": "waves",
        "dtype": "float32",
        "shape": ["batch", "samples"],
    }
    # other batch sizes and lengths than the example, of 131, 51 and 91 frames: each remainder
    # of the frame stacking (3) and of the pyramid's pairing
    for batch in (waves(0.9, 0.4, 1.3), waves(0.5), waves(0.9)):
        log_probs, frame_lengths = model.run("model", **padded(batch))
        with torch.inference_mode():
            expected = module.batch_log_probs(batch)
        assert frame_lengths.tolist() == [len(x) for x in expected]
        search = module.beam_search({})
        for i, reference in enumerate(expected):
            ours = log_probs[i, : frame_lengths[i]]
            torch.testing.assert_close(ours, reference, **TOLERANCE)
            record = module.transcript_record("x", ours, search, 1.0)
            assert record == module.transcript_record("x", reference, search, 1.0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_text_langid_export_gives_predict_logits(tiny_checkpoint, tmp_path, fmt) -> None:
    module = load_module(tiny_checkpoint("langid_text"))
    model = exported(module, tmp_path, fmt)
    manifest = model.manifest
    assert manifest["labels"] == module.labels and manifest["unit"] == "char"
    vocabulary = Vocabulary.from_list(manifest["vocabulary"])
    texts = ["the quick brown fox", "ein kleiner hund", "un chat", "x"]
    ids = [torch.tensor(encode_text(t, vocabulary, "char", manifest["max_units"])) for t in texts]
    values, lengths = pad_sequences(ids, 0)
    (logits,) = model.run("model", ids=values, lengths=lengths)
    with torch.inference_mode():
        expected = module(values, lengths)
    torch.testing.assert_close(logits, expected, **TOLERANCE)
    predicted = [r["language"] for r in module.predict_items(texts, {})]
    assert [manifest["labels"][i] for i in logits.argmax(-1).tolist()] == predicted


@pytest.mark.parametrize("fmt", FORMATS)
def test_spoken_langid_export_gives_predict_logits(tiny_checkpoint, tmp_path, fmt) -> None:
    module = load_module(tiny_checkpoint("langid_spoken"))
    model = exported(module, tmp_path, fmt)
    features = model.manifest["features"]
    batch = waves(1.2, 0.5, 0.8, rate=features["sample_rate"])
    (logits,) = model.run("model", **padded(batch))
    feats, lengths = pad_sequences([utterance_features(w, features) for w in batch], 0.0)
    with torch.inference_mode():
        expected = module(feats, lengths)
    torch.testing.assert_close(logits, expected, **TOLERANCE)
    assert logits.argmax(-1).tolist() == expected.argmax(-1).tolist()


@pytest.mark.parametrize("fmt", FORMATS)
def test_captioning_export_beam_loop_gives_the_same_captions(
    tiny_checkpoint, tmp_path, fmt
) -> None:
    module = load_module(tiny_checkpoint("captioning"))
    model = exported(module, tmp_path, fmt)
    manifest = model.manifest
    size, beam = manifest["image_size"], manifest["decoding"]["beam_size"]
    images = torch.rand(3, 3, size, size, generator=torch.Generator().manual_seed(2))
    memory, keys, h0, c0 = model.run("encoder", images=images)
    assert memory.shape[1] == manifest["attention_grid"][0] * manifest["attention_grid"][1]

    beams = {"memory": memory.repeat_interleave(beam, 0), "keys": keys.repeat_interleave(beam, 0)}

    def step(tokens, state):
        log_probs, h, c, attention = model.run(
            "decoder_step", tokens=tokens, h=state[0], c=state[1], **beams
        )
        return log_probs, (h, c), attention

    decoding = manifest["decoding"]
    hypotheses = beam_search(
        step,
        (h0, c0),
        batch_size=3,
        bos=manifest["bos"],
        eos=manifest["eos"],
        beam_size=beam,
        max_len=decoding["max_len"],
        length_penalty=decoding["length_penalty"],
        no_repeat_ngram_size=decoding["no_repeat_ngram_size"],
    )
    expected = module.captioner.caption(images, **decoding)
    for (ours,), reference in zip(hypotheses, expected, strict=True):
        assert ours.tokens.tolist() == reference.tokens
        assert ours.log_prob == pytest.approx(reference.score, abs=1e-4)
        torch.testing.assert_close(ours.extras, reference.attention, **TOLERANCE)


def test_export_script_writes_graphs_and_manifest(tiny_checkpoint, tmp_path) -> None:
    checkpoint = tiny_checkpoint("captioning")
    main = importlib.import_module("scripts.export").main
    argv = ["export.py", f"ckpt={checkpoint}", "format=torchscript", f"paths.root_dir={tmp_path}"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", argv)
        main()
    folder = checkpoint.parents[1] / "export" / "torchscript"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["task"] == "captioning" and manifest["format"] == "torchscript"
    assert sorted(p.name for p in folder.iterdir()) == [
        "decoder_step.pt",
        "encoder.pt",
        "manifest.json",
    ]
    step_inputs = [x["name"] for x in manifest["graphs"]["decoder_step"]["inputs"]]
    assert step_inputs == ["tokens", "h", "c", "memory", "keys"]


def test_lstm_variants_are_refused_rather_than_fixed_to_one_length(
    tiny_checkpoint, tmp_path
) -> None:
    module = load_module(tiny_checkpoint("speech", "+encoder.lstm_options.layer_norm=true"))
    with pytest.raises(ConfigError, match=r"cannot export model: its LSTM encoder\.blocks\.0"):
        export_module(module.export_graphs(), {}, tmp_path, "onnx")
    assert not list(tmp_path.iterdir())


def test_export_script_rejects_an_unknown_format(tiny_checkpoint, tmp_path) -> None:
    main: Callable = importlib.import_module("scripts.export").main
    checkpoint = tiny_checkpoint("langid_text")
    argv = ["export.py", f"ckpt={checkpoint}", "format=tflite", f"paths.root_dir={tmp_path}"]
    with pytest.MonkeyPatch.context() as patch, pytest.raises(SystemExit, match="tflite"):
        patch.setattr(sys, "argv", argv)
        main()


def test_exportable_log_mel_frames_each_waveform_at_its_own_end() -> None:
    log_mel = LogMel(16000, 40, 512, 400, 160).eval()
    batch = waves(1.0, 0.55, 0.31)
    values, lengths = pad_sequences(batch, 0.0)
    by_conv = log_mel.power_mel_by_conv(values, lengths).clamp_min(1e-6).log().transpose(1, 2)
    for i, wave in enumerate(batch):
        alone, frames = log_mel(wave[None])
        torch.testing.assert_close(by_conv[i, : int(frames)], alone[0], rtol=1e-4, atol=1e-4)
