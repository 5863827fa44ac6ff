"""Spoken LID: corpus planning, tiny espeak corpus end-to-end, VoxLingua-style folders."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tasks.audio.io import AudioDecodeError, write_audio
from tasks.harness.gate_plots import GateFigureWriter
from tasks.langid.data.spoken_corpus import (
    SpokenCorpusSettings,
    build_spoken_corpus,
    plan_utterances,
    read_sentences,
)
from tasks.langid.data.spoken_datamodule import LangIDSpokenDataModule
from tasks.langid.model.audio_frontend import audio_frontend
from tests.harness.gate_outputs import check_gate_outputs
from tests.langid.langid_helpers import TINY_SPOKEN, train_langid
from tests.serving.tiny_models import datamodule_options, model_config

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
ENCODER = model_config(*TINY_SPOKEN)["encoder"]  # the tiny spoken model's


def spoken_datamodule(**options: Any) -> LangIDSpokenDataModule:
    """A datamodule of the tiny spoken runs' ``data`` config (``data=langid_spoken``, 20 mel
    bins, clips cut to 1.5 s) with ``options`` over it."""
    return LangIDSpokenDataModule(**(datamodule_options(*TINY_SPOKEN) | options))


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
    """``scripts/train.py experiment=langid_spoken`` renders the corpus of the written one,
    trains and tests; its checkpoint predicts clips, draws gates and names a corrupt file."""
    text_root = text_corpus(tmp_path / "text")
    run = train_langid(
        tmp_path,
        *TINY_SPOKEN,
        f"data.root={tmp_path / 'spoken'}",
        f"data.text_root={text_root}",
        "~data.corpus.voices",
        "+data.corpus.voices={de:de,es:es}",
        "data.corpus.variants={train:[m1,f1],validation:[m3],test:[f3,klatt4]}",
        "data.corpus.per_language={train:4,validation:2,test:2}",
        "data.corpus.sentence_sources=[]",
        "data.corpus.workers=1",
        "data.batch_size=4",
        "trainer.max_epochs=2",
    )
    # the run rendered the corpus that settings() names: building it again finds it complete
    (out,) = (tmp_path / "spoken").iterdir()
    assert build_spoken_corpus(tmp_path / "spoken", text_root, settings()) == out
    with open(out / "test" / "metadata.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and {r["label"] for r in rows} == {"de", "es"}
    assert run.summary["global_step"] == 4  # two epochs of 8 clips in batches of 4
    assert 0.0 <= run.summary["test/acc"] <= 1.0 and 0.0 <= run.summary["test/macro_f1"] <= 1.0
    assert math.isfinite(run.summary["test/loss"])
    assert (run.run_dir / "plots" / "langid_confusion.png").exists()
    loaded = run.module
    artifacts = loaded.hparams["artifacts"]
    assert artifacts["labels"] == ["de", "es"] and len(artifacts["cmvn"]["mean"]) == 20
    assert loaded.input_kind == "file"
    clip = str(next((out / "test").glob("*.flac")))
    with torch.inference_mode():
        (record,) = loaded.predict_items([clip], {})
    assert record["input"] == clip and record["language"] in {"de", "es"}
    assert sum(x["probability"] for x in record["top_k"]) == pytest.approx(1.0, abs=1e-4)
    with torch.inference_mode():
        drawn = GateFigureWriter(loaded, tmp_path / "gates", layer=-1, units=8)(record)
    check_gate_outputs(drawn, layers=ENCODER["num_layers"], directions=2)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF not really audio")
    with pytest.raises(AudioDecodeError, match=r"corrupt\.wav"):
        list(loaded.predict_items([str(corrupt)], {}))


@pytest.mark.parametrize("corpus", ["none", "embedded_default"])
def test_voxlingua_layout_labels_from_folders(tmp_path: Path, caplog, corpus: str) -> None:
    """A local folder is read as given; with ``data.data_dir`` set the embedded corpus's
    settings (``data=langid_spoken``) are left unused and nothing is rendered."""
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
    options = {"root": str(tmp_path / "embedded"), "text_root": str(tmp_path / "text")}
    if corpus == "none":
        options["corpus"] = None
    options.update(data_dir=str(tmp_path / "vox"))
    dm = spoken_datamodule(**options)
    capped = spoken_datamodule(**options, max_train_per_label=1).load()
    assert sorted(capped["train"][1]) == ["en", "sw"]  # the first clip of each language
    assert len(capped["test"][1]) == 4  # evaluation splits are never capped
    dm.prepare_data()  # as Lightning calls it before setup
    dm.setup("fit")
    assert dm.artifacts()["labels"] == ["en", "sw"]
    assert len(dm.encoded["train"]) == 4  # the corrupt clip is skipped and counted
    assert "skipped 1 utterances (corrupt)" in caplog.text
    batch = next(iter(dm.train_dataloader()))
    assert batch["inputs"].shape[-1] == 20
    assert not (tmp_path / "embedded").exists() and not (tmp_path / "text").exists()


@pytest.mark.parametrize(("subsampling", "size"), [("stack", 4 * 20), ("conv", 4 * 5)])
def test_audio_frontend_subsamples_time(subsampling: str, size: int) -> None:
    encoder = {**ENCODER, "subsampling": subsampling}
    artifacts = {"cmvn": {"mean": [0.0] * 20, "std": [1.0] * 20}}
    frontend = audio_frontend(encoder, artifacts).eval()
    out, lengths = frontend(torch.randn(2, 10, 20), torch.tensor([10, 5]))
    assert out.shape == (2, 3, size) and frontend.output_size == size
    assert lengths.tolist() == [3, 2]
    with pytest.raises(ValueError, match=r"encoder\.normalization must be one of"):
        audio_frontend({**encoder, "normalization": "per-speaker"}, artifacts)
