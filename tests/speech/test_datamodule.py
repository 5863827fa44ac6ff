import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
import torch

from tasks.speech.data.corpus import SpeechSynthConfig, prepare_speech_synth
from tasks.speech.data.datamodule import SpeechDataModule
from tasks.text.vocabulary import Vocabulary
from tests.serving.tiny_models import datamodule_options

# Every sentence uses exactly the letters a d e h i n o r s t, so any training subset yields
# the same character vocabulary.
SENTENCES = """\
The sad horse is in the door.
Three red hats are inside the store.
The rider is at the north side.
She sent her dinner to a host.
A tired donor rests in the shade.
The heroes stand in a desert.
Its horns are red and thin.
The trains are not in the shed.
A stone rose near the tide.
Dinner is on the hot stand.
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny embedded corpus (8 train, 2 validation, 3 test utterances)."""
    root = tmp_path_factory.mktemp("speech")
    sentences = root / "sentences.txt"
    sentences.write_text(SENTENCES)
    cfg = SpeechSynthConfig(
        root=str(root / "synth"),
        n_train=8,
        n_val=2,
        n_test=3,
        voices={"train": ["en+m1", "en-us+f2"], "validation": ["en+f3"], "test": ["en-us+m3"]},
        rate=(180, 220),
        babble_utterances=2,
        sentences_file=str(sentences),
        workers=1,
    )
    return prepare_speech_synth(cfg)


def _datamodule(tmp_path: Path, **kwargs) -> SpeechDataModule:
    """A datamodule of the speech task's data config (40 mel bins, small batches, caches
    under ``tmp_path``, no LM text) with ``kwargs`` over it; ``kwargs["dataset"]`` goes over
    the config's ``dataset`` options."""
    options = datamodule_options(
        "task=speech",
        "data.features.n_mels=40",
        "data.batch_size=3",
        "data.eval_batch_size=2",
        "data.index_workers=1",
        f"data.cache_dir={tmp_path / 'cache'}",
        f"data.hf_cache_dir={tmp_path / 'hf'}",
        "data.lm_text=null",
    )
    kwargs["dataset"] = {**options["dataset"], **kwargs.get("dataset", {})}
    return SpeechDataModule(**(options | kwargs))


def _read_rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "metadata.csv", newline="") as f:
        return list(csv.DictReader(f))


def _write_rows(folder: Path, rows: list[dict[str, str]]) -> None:
    with open(folder / "metadata.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_audiofolder_batches_vocab_and_artifacts(corpus: Path, tmp_path: Path) -> None:
    dm = _datamodule(tmp_path, source="audiofolder", dataset={"data_dir": str(corpus)})
    dm.prepare_data()
    dm.setup("fit")
    sizes = {split: len(dm.datasets[split]) for split in ("train", "validation", "test")}
    assert sizes == {"train": 8, "validation": 2, "test": 3}

    artifacts = dm.artifacts()
    vocab = Vocabulary.from_list(artifacts["vocabulary"])
    assert vocab.itos[0] == "<blank>"
    assert set(vocab.itos[1:]) == set("adehinorst ")
    assert artifacts["cmvn"]["mean"].shape == (40,) and torch.all(artifacts["cmvn"]["std"] > 0)
    assert artifacts["sample_rate"] == 16000 and artifacts["features"]["n_mels"] == 40
    # artifacts survive a weights-only checkpoint round trip
    torch.save(artifacts, tmp_path / "a.pt")
    assert torch.load(tmp_path / "a.pt", weights_only=True)["vocabulary"] == artifacts["vocabulary"]

    batches = list(dm.train_dataloader())
    assert sum(len(b["ids"]) for b in batches) == 8
    batch = batches[0]
    b = len(batch["ids"])
    assert batch["features"].shape[0] == b and batch["features"].shape[2] == 40
    assert batch["features"].dtype == torch.float32
    assert batch["features"].shape[1] == int(batch["features_lengths"].max())
    assert batch["targets"].shape == (b, int(batch["targets_lengths"].max()))
    for i in range(b):
        frames, chars = int(batch["features_lengths"][i]), int(batch["targets_lengths"][i])
        assert torch.all(batch["features"][i, frames:] == 0)
        decoded = "".join(vocab.decode(batch["targets"][i, :chars].tolist()))
        assert decoded == batch["transcripts"][i]
        # 10 ms frames, 8-20 characters per second of speech: lengths are consistent
        assert 3 < frames / chars < 30

    # CMVN over the training frames normalises them to zero mean, unit variance
    feats = torch.cat([dm.datasets["train"][i]["features"] for i in range(8)])
    normed = (feats - artifacts["cmvn"]["mean"]) / artifacts["cmvn"]["std"]
    assert normed.mean().abs() < 1e-3 and abs(normed.std().item() - 1) < 0.05

    # the feature cache is reused by a fresh datamodule: same features, no decoding
    moved = tmp_path / "moved_audio"
    moved.mkdir()
    for audio in (corpus / "test").glob("*.flac"):
        shutil.move(audio, moved / audio.name)
    try:
        again = _datamodule(tmp_path, source="audiofolder", dataset={"data_dir": str(corpus)})
        again.setup("fit")
        assert torch.equal(
            again.datasets["test"][0]["features"], dm.datasets["test"][0]["features"]
        )
    finally:
        for audio in moved.iterdir():
            shutil.move(audio, corpus / "test" / audio.name)


def test_synth_source_and_metadata(corpus: Path, tmp_path: Path) -> None:
    cfg = json.loads((corpus / "COMPLETE").read_text())["config"]
    cfg["root"] = str(corpus.parent)
    generated = (corpus / "COMPLETE").stat().st_mtime_ns
    dm = _datamodule(tmp_path, source="synth", corpus=cfg)
    dm.setup("fit")
    # found where it was generated, not generated again
    assert (corpus / "COMPLETE").stat().st_mtime_ns == generated
    assert dm.speech_source.identity() == str(corpus)
    meta = dm.metadata("test")
    assert len(meta) == 3 and {m["voice"] for m in meta} == {"en-us+m3"}


def test_index_does_not_depend_on_the_number_of_workers(corpus: Path, tmp_path: Path) -> None:
    indices = []
    for workers in (1, 2):
        dm = _datamodule(
            tmp_path / f"workers{workers}",
            source="audiofolder",
            dataset={"data_dir": str(corpus)},
            index_workers=workers,
        )
        dm.prepare_data()
        indices.append(dm.indices)
    alone, pooled = indices
    for split in ("train", "validation", "test"):
        assert pooled[split].ids == alone[split].ids
        assert pooled[split].lengths == alone[split].lengths
        assert pooled[split].transcripts == alone[split].transcripts
        assert all(
            torch.equal(a, b)
            for a, b in zip(alone[split].features, pooled[split].features, strict=True)
        )
    assert torch.equal(pooled["train"].cmvn[0], alone["train"].cmvn[0])


def test_indexing_in_process_keeps_the_thread_count(corpus: Path, tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        dm = _datamodule(
            tmp_path, source="audiofolder", dataset={"data_dir": str(corpus)}, index_workers=1
        )
        dm.prepare_data()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_lm_text_sentences_within_the_vocabulary(corpus: Path, tmp_path: Path) -> None:
    cfg = json.loads((corpus / "COMPLETE").read_text())["config"]
    cfg["root"] = str(corpus.parent)
    transcripts_only = _datamodule(tmp_path, source="synth", corpus=cfg, lm_text=None)
    transcripts_only.setup("fit")
    assert transcripts_only.lm_text_sentences() == []

    with_corpus_text = _datamodule(tmp_path, source="synth", corpus=cfg, lm_text="corpus")
    with_corpus_text.setup("fit")
    corpus_text = (corpus / "lm_text.txt").read_text().splitlines()
    assert with_corpus_text.lm_text_sentences() == corpus_text

    text = tmp_path / "lm.txt"
    text.write_text("The Red Door.\nZebra quiz\n\nA host is near.\n")
    from_file = _datamodule(tmp_path, source="synth", corpus=cfg, lm_text=str(text))
    from_file.setup("fit")
    # normalised like the transcripts; the line with letters outside the vocabulary is dropped
    assert from_file.lm_text_sentences() == ["the red door", "a host is near"]

    missing = _datamodule(tmp_path, source="synth", corpus=cfg, lm_text=str(tmp_path / "no.txt"))
    missing.setup("fit")
    with pytest.raises(FileNotFoundError, match=r"data\.lm_text: .*no\.txt is not a file"):
        missing.lm_text_sentences()


def test_bad_samples_are_skipped_counted_and_warned(corpus: Path, tmp_path: Path) -> None:
    data = tmp_path / "bad"
    shutil.copytree(corpus, data)
    train = data / "train"
    rows = _read_rows(train)
    (train / "empty.wav").write_bytes(b"")
    (train / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40))
    (train / "notes.flac").write_text("not audio at all\n" * 10)
    sf.write(train / "short.wav", np.zeros(80, dtype=np.float32), 16000)
    # odd format that must be accepted: 44.1 kHz stereo, resampled and mixed down
    wave, rate = sf.read(train / rows[0]["file_name"], dtype="float32")
    stereo_44k = np.interp(np.arange(0, len(wave), rate / 44100), np.arange(len(wave)), wave)
    sf.write(train / "stereo.wav", np.stack([stereo_44k, stereo_44k], axis=1), 44100)
    extra = [
        {"file_name": "missing.wav", "transcription": "a missing file"},
        {"file_name": "empty.wav", "transcription": "an empty file"},
        {"file_name": "corrupt.wav", "transcription": "a corrupt file"},
        {"file_name": "notes.flac", "transcription": "not audio"},
        {"file_name": "short.wav", "transcription": "too short"},
        {"file_name": rows[1]["file_name"], "transcription": "   "},
        {"file_name": "stereo.wav", "transcription": rows[0]["transcription"]},
    ]
    _write_rows(train, [{k: r.get(k, "") for k in rows[0]} for r in rows + extra])
    test_rows = _read_rows(data / "test")
    test_rows[0]["transcription"] = "zzz qqq xxx"  # characters never seen in training
    _write_rows(data / "test", test_rows)

    dm = _datamodule(
        tmp_path, source="audiofolder", dataset={"data_dir": str(data)}, index_workers=2
    )
    with pytest.warns(UserWarning) as record:
        dm.setup("fit")
    messages = [str(w.message) for w in record]
    skipped = dm.indices["train"].skipped
    assert skipped == {
        "audio missing": 1,
        "audio empty": 1,
        "audio corrupt": 2,
        "audio too short": 1,
        "empty transcript": 1,
    }
    assert len(dm.datasets["train"]) == 8 + 1  # the stereo 44.1 kHz file is kept
    assert any("missing.wav" in m and "audio missing" in m for m in messages)
    assert sum("train utterance(s): audio corrupt" in m for m in messages) == 1  # one per reason
    assert dm.indices["test"].skipped == {"characters not in vocabulary": 1}
    assert len(dm.datasets["test"]) == 2
    # every batch of the epoch loads: nothing bad is left for the training loop
    assert sum(len(b["ids"]) for b in dm.train_dataloader()) == 9


def test_parquet_with_audio_struct_like_the_hub(corpus: Path, tmp_path: Path) -> None:
    """The LibriSpeech/Common Voice code path on local parquet files of the same layout."""
    parquet_dir = tmp_path / "parquet"
    parquet_dir.mkdir()
    audio_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    for split, name in (("train", "train.100"), ("validation", "validation"), ("test", "test")):
        rows = _read_rows(corpus / split)
        audio = [
            {"bytes": (corpus / split / r["file_name"]).read_bytes(), "path": r["file_name"]}
            for r in rows
        ]
        table = pa.table(
            {
                "audio": pa.array(audio, type=audio_type),
                "text": [r["transcription"].upper() for r in rows],  # LibriSpeech is upper case
                "id": [f"{split}-{i}" for i in range(len(rows))],
            }
        )
        features = {
            "audio": {"_type": "Audio", "sampling_rate": 16000},
            "text": {"dtype": "string", "_type": "Value"},
            "id": {"dtype": "string", "_type": "Value"},
        }
        table = table.replace_schema_metadata(
            {"huggingface": json.dumps({"info": {"features": features}})}
        )
        pq.write_table(table, parquet_dir / f"{name}-00000-of-00001.parquet")

    dataset = {
        "path": "parquet",
        "data_files": {
            name: str(parquet_dir / f"{name}-*.parquet")
            for name in ("train.100", "validation", "test")
        },
        "splits": {"train": "train.100", "validation": "validation", "test": "test"},
        "audio_column": "audio",
        "text_column": "text",
        "id_column": "id",
    }
    for cache_features in (True, False):
        dm = _datamodule(tmp_path, source="hub", dataset=dataset, cache_features=cache_features)
        dm.setup("fit")
        assert len(dm.datasets["train"]) == 8 and dm.datasets["test"].index.ids[0] == "test-0"
        batch = next(iter(dm.val_dataloader()))
        assert batch["features"].shape[2] == 40
        assert batch["transcripts"][0] == batch["transcripts"][0].lower()  # normalised
    waves = _datamodule(
        tmp_path, source="hub", dataset=dataset, cache_features=False, output="waveforms"
    )
    waves.setup("fit")
    batch = next(iter(waves.test_dataloader()))
    assert (
        batch["waveforms"].ndim == 2
        and batch["waveforms_lengths"].max() == batch["waveforms"].shape[1]
    )


def test_checkpoint_artifacts_replace_computed_ones(corpus: Path, tmp_path: Path) -> None:
    vocab = Vocabulary(list("abcdefghijklmnopqrstuvwxyz' "), specials=("<blank>",))
    dm = _datamodule(tmp_path, source="audiofolder", dataset={"data_dir": str(corpus)})
    fixed = {
        "vocabulary": vocab.to_list(),
        "cmvn": {"mean": torch.zeros(40), "std": torch.ones(40)},
        "sample_rate": 16000,
        "features": dict(dm.feature_options),
    }
    dm.load_artifacts(fixed)
    dm.setup("test")
    assert dm.artifacts() is fixed
    batch = next(iter(dm.test_dataloader()))
    text = "".join(vocab.decode(batch["targets"][0, : batch["targets_lengths"][0]].tolist()))
    assert text == batch["transcripts"][0]


def test_configuration_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"data\.source must be"):
        _datamodule(tmp_path, source="youtube")
    with pytest.raises(ValueError, match=r"needs data\.cache_features=false"):
        _datamodule(tmp_path, output="waveforms", cache_features=True)
    with pytest.raises(ValueError, match=r"data\.lm_text=corpus needs data\.source=synth"):
        _datamodule(tmp_path, source="audiofolder", lm_text="corpus")
    dm = _datamodule(
        tmp_path, source="audiofolder", dataset={"data_dir": str(tmp_path / "nowhere")}
    )
    with pytest.raises(FileNotFoundError, match="split folder not found"):
        dm.setup("fit")
