"""Spoken LID: corpus planning, tiny espeak corpus end-to-end, VoxLingua-style folders."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from tasks.audio.io import AudioDecodeError, write_audio
from tasks.harness.checkpoint import load_module
from tasks.harness.gate_plots import GateFigureWriter
from tasks.langid.data.spoken_corpus import (
    SpokenCorpusSettings,
    build_spoken_corpus,
    plan_utterances,
    read_sentences,
)
from tasks.langid.data.spoken_datamodule import LangIDSpokenDataModule
from tasks.langid.model.audio_frontend import audio_frontend
from tasks.langid.module import LangIDModule
from tests.harness.gate_outputs import check_gate_outputs
from tests.langid.langid_helpers import OPTIM, TINY_MODEL, tiny_trainer
from tests.serving.tiny_models import datamodule_options

SENTENCES = {
    "de": ["Die Datei konnte nicht geöffnet werden", "Bitte warten Sie einen Moment",
           "Das Verzeichnis ist leer und bereit", "Einstellungen wurden gespeichert",
           "Der Drucker ist nicht verbunden", "Neue Nachricht empfangen heute",
           "Fenster schließen und beenden", "Verbindung zum Server verloren"],
    "es": ["No se pudo abrir el archivo", "Por favor espere un momento",
           "La carpeta está vacía y lista", "La configuración se ha guardado",
           "La impresora no está conectada", "Nuevo mensaje recibido hoy",
           "Cerrar la ventana y salir", "Se perdió la conexión con el servidor"],
}  # fmt: skip
TINY_AUDIO_MODEL = {
    **TINY_MODEL,
    "encoder": {
        "name": "audio_bilstm", "modality": "audio", "normalization": "utterance",
        "spec_augment": {
            "freq_masks": 1,
            "freq_width": 3,
            "time_masks": 1,
            "time_width": 5,
            "time_ratio": 0.2,
            "time_warp": 0,
        },
        "subsampling": "conv", "subsampling_factor": 4, "conv_channels": 4,
        "hidden_size": 12, "num_layers": 1, "dropout": 0.0, "lstm_options": {},
        "pooling": "mean", "attention_dim": 8,
    },
}  # fmt: skip


def spoken_datamodule(**options: Any) -> LangIDSpokenDataModule:
    """A datamodule of ``data=langid_spoken`` (20 mel bins, clips cut to 1.5 s) with
    ``options`` over it."""
    config = datamodule_options(
        "task=langid",
        "data=langid_spoken",
        "data.features.n_mels=20",
        "data.features.max_seconds=1.5",
    )
    return LangIDSpokenDataModule(**(config | options))


def settings(**overrides) -> SpokenCorpusSettings:
    options = {
        "voices": {"de": "de", "es": "es"},
        "variants": {"train": ("m1", "f1"), "validation": ("m3",), "test": ("f3", "klatt4")},
        "per_language": {"train": 4, "validation": 2, "test": 2},
        "workers": 1,
    }
    return SpokenCorpusSettings(**{**options, **overrides})


def text_corpus(root: Path) -> Path:
    """A written corpus whose splits hold disjoint sentences, cached by its manifest."""
    from tasks.langid.data.text_corpus import TextCorpusSettings, corpus_fingerprint

    parts = {"train": slice(0, 4), "validation": slice(4, 6), "test": slice(6, 8)}
    root.mkdir(parents=True, exist_ok=True)
    for split, part in parts.items():
        with open(root / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for lang, texts in SENTENCES.items():
                f.writelines(json.dumps({"text": t, "label": lang}) + "\n" for t in texts[part])
    (root / "manifest.json").write_text(json.dumps(corpus_fingerprint(TextCorpusSettings())))
    return root


def test_plan_holds_out_voices_and_sentences() -> None:
    sentences = {
        "train": {k: v[:4] for k, v in SENTENCES.items()},
        "validation": {k: v[4:6] for k, v in SENTENCES.items()},
        "test": {k: v[6:8] for k, v in SENTENCES.items()},
    }
    specs = plan_utterances(settings(), sentences)
    assert specs == plan_utterances(settings(), sentences)  # deterministic given the seed
    voices = {s: {u.voice.split("+")[1] for u in specs if u.split == s} for s in sentences}
    assert voices["train"] <= {"m1", "f1"} and voices["test"] <= {"f3", "klatt4"}
    train_texts = {u.text for u in specs if u.split == "train"}
    assert not train_texts & {u.text for u in specs if u.split == "test"}
    assert {u.columns["label"] for u in specs} == {"de", "es"}
    with pytest.raises(ValueError, match=r"variants \['m1'\] are in both train and test"):
        settings(variants={"train": ("m1",), "validation": ("m3",), "test": ("m1",)}).check()
    with pytest.raises(ValueError, match="language 'de' has 4 train sentences"):
        plan_utterances(settings(per_language={"train": 5, "validation": 2, "test": 2}), sentences)


def test_spoken_sentences_come_from_the_chosen_sources(tmp_path: Path) -> None:
    rows = [
        {"text": "Das Dokument wurde gespeichert.", "label": "de", "source": "gettext"},
        {"text": "Tischler", "label": "de", "source": "faker"},
        {"text": "Die Datei ist zu groß.", "label": "de", "source": "django"},
    ]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    chosen = read_sentences(tmp_path, "train", ("gettext", "django"))
    assert chosen == {"de": ["Das Dokument wurde gespeichert.", "Die Datei ist zu groß."]}
    assert read_sentences(tmp_path, "train")["de"] == [r["text"] for r in rows]


def test_spoken_end_to_end(tmp_path: Path) -> None:
    pl.seed_everything(0)
    text_root = text_corpus(tmp_path / "text")
    out = build_spoken_corpus(tmp_path / "spoken", text_root, settings())
    with open(out / "test" / "metadata.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and {r["label"] for r in rows} == {"de", "es"}
    corpus = {
        "voices": {"de": "de", "es": "es"},
        "variants": {"train": ["m1", "f1"], "validation": ["m3"], "test": ["f3", "klatt4"]},
        "per_language": {"train": 4, "validation": 2, "test": 2},
        "workers": 1,
    }
    dm = spoken_datamodule(
        root=str(tmp_path / "spoken"),
        text_root=str(text_root),
        corpus=corpus,
        data_dir=None,
        batch_size=4,
    )
    dm.prepare_data()
    assert dm.data_dir == out  # same settings: the cached corpus is reused
    dm.setup("fit")
    artifacts = dm.artifacts()
    assert artifacts["labels"] == ["de", "es"] and len(artifacts["cmvn"]["mean"]) == 20
    module = LangIDModule(model=TINY_AUDIO_MODEL, optim=OPTIM, artifacts=artifacts)
    module.run_config = {"task": {"name": "langid"}}
    trainer = tiny_trainer(tmp_path / "run", max_epochs=2)
    trainer.fit(module, datamodule=dm)
    trainer.test(module, datamodule=dm)
    assert 0.0 <= trainer.callback_metrics["test/acc"] <= 1.0
    assert (tmp_path / "run" / "plots" / "langid_confusion.png").exists()
    checkpoint = tmp_path / "run" / "spoken.ckpt"
    trainer.save_checkpoint(checkpoint)
    loaded = load_module(checkpoint)
    assert loaded.input_kind == "file"
    clip = str(next((out / "test").glob("*.flac")))
    with torch.inference_mode():
        (record,) = loaded.predict_items([clip], {})
    assert record["input"] == clip and record["language"] in {"de", "es"}
    assert sum(x["probability"] for x in record["top_k"]) == pytest.approx(1.0, abs=1e-4)
    with torch.inference_mode():
        drawn = GateFigureWriter(loaded, tmp_path / "gates", layer=-1, units=8)(record)
    check_gate_outputs(drawn, layers=TINY_AUDIO_MODEL["encoder"]["num_layers"], directions=2)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF not really audio")
    with pytest.raises(AudioDecodeError, match=r"corrupt\.wav"):
        list(loaded.predict_items([str(corrupt)], {}))


def test_voxlingua_layout_labels_from_folders(tmp_path: Path, caplog) -> None:
    rng = np.random.default_rng(0)
    for split in ("train", "validation", "test"):
        for lang, freq in (("en", 220.0), ("sw", 440.0)):
            folder = tmp_path / "vox" / split / lang
            folder.mkdir(parents=True)
            for i in range(2):
                t = np.arange(8000) / 16000
                wave = 0.5 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(8000)
                write_audio(folder / f"clip{i}.wav", wave.astype(np.float32), 16000)
    (tmp_path / "vox" / "train" / "en" / "broken.wav").write_bytes(b"garbage")
    options = {"root": str(tmp_path), "text_root": str(tmp_path), "corpus": None}
    options.update(data_dir=str(tmp_path / "vox"))
    dm = spoken_datamodule(**options)
    capped = spoken_datamodule(**options, max_train_per_label=1).load()
    assert sorted(capped["train"][1]) == ["en", "sw"]  # the first clip of each language
    assert len(capped["test"][1]) == 4  # evaluation splits are never capped
    dm.setup("fit")
    assert dm.artifacts()["labels"] == ["en", "sw"]
    assert len(dm.encoded["train"]) == 4  # the corrupt clip is skipped and counted
    assert "skipped 1 utterances (corrupt)" in caplog.text
    batch = next(iter(dm.train_dataloader()))
    assert batch["inputs"].shape[-1] == 20


@pytest.mark.parametrize(("subsampling", "size"), [("stack", 4 * 20), ("conv", 4 * 5)])
def test_audio_frontend_subsamples_time(subsampling: str, size: int) -> None:
    encoder = {**TINY_AUDIO_MODEL["encoder"], "subsampling": subsampling}
    artifacts = {"cmvn": {"mean": [0.0] * 20, "std": [1.0] * 20}}
    frontend = audio_frontend(encoder, artifacts).eval()
    out, lengths = frontend(torch.randn(2, 10, 20), torch.tensor([10, 5]))
    assert out.shape == (2, 3, size) and frontend.output_size == size
    assert lengths.tolist() == [3, 2]
    with pytest.raises(ValueError, match=r"encoder\.normalization must be one of"):
        audio_frontend({**encoder, "normalization": "per-speaker"}, artifacts)
