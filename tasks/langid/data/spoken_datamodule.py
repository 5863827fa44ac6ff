"""Spoken-LID data: the embedded espeak-ng corpus or any local audio folder.

Two layouts of ``<data_dir>/<split>/``:

* ``audiofolder``: audio files plus ``metadata.csv`` with ``file_name`` and a label column
  (the embedded corpus); the metadata is read with the ``datasets`` csv builder, every
  column as text;
* VoxLingua107: ``<split>/<language>/<clip>.wav`` without metadata; the folder name is the
  label.

``datasets``' own audio decoding needs torchcodec/FFmpeg, so audio files are decoded with
soundfile (:func:`tasks.audio.io.load_audio`); log-mels are computed once in ``setup`` and
kept in memory. Undecodable or too-short files are skipped and counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch
from datasets import Features, Value, load_dataset
from torch.utils.data import Dataset
from tqdm import tqdm

from tasks.audio.features import cmvn_stats
from tasks.audio.io import AudioDecodeError, load_audio
from tasks.batching import LoaderOptions, pad_collate
from tasks.langid.model.audio_frontend import utterance_features
from tasks.langid.config import LangIDSpokenDataConfig
from tasks.langid.data.bucketed_datamodule import BucketedLangIDDataModule
from tasks.langid.data.spoken_corpus import SpokenCorpusSettings, build_spoken_corpus
from tasks.langid.data.text_datamodule import cap_per_label

log = logging.getLogger(__name__)


class Utterances(Dataset):
    """Items ``{"inputs": (T, F) log-mels, "label": () int64}``."""

    def __init__(self, features: list[torch.Tensor], labels: list[int]) -> None:
        self.features, self.labels = features, labels

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"inputs": self.features[index], "label": torch.tensor(self.labels[index])}


def collate_utterances(items: list[dict[str, torch.Tensor]]) -> dict[str, Any]:
    """Pad ``inputs`` with 0 to ``(B, T_max, F)``; adds ``inputs_lengths (B,)``."""
    return pad_collate(items, {"inputs": 0.0})


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


def read_audio_split(folder: Path, label_column: str) -> tuple[list[str], list[str]]:
    """``(audio paths, labels)`` of one split folder in either layout (see the module doc)."""
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder}: split folder not found; expected <data_dir>/<split>/ (set data.splits)"
        )
    metadata = folder / "metadata.csv"
    if not metadata.is_file():
        files = sorted(
            p for p in folder.glob("*/*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()
        )
        if not files:
            raise FileNotFoundError(
                f"{folder}: no metadata.csv and no <language>/<clip> audio files"
            )
        return [str(p) for p in files], [p.parent.name for p in files]
    with open(metadata, encoding="utf-8") as f:
        header = f.readline().strip().split(",")
    if label_column not in header or "file_name" not in header:
        raise ValueError(
            f"{metadata}: needs columns 'file_name' and {label_column!r} (data.label_column); "
            f"it has {header}"
        )
    table = load_dataset(
        "csv",
        data_files={"rows": str(metadata)},
        split="rows",
        features=Features({c: Value("string") for c in header}),
        keep_default_na=False,
    )
    paths = [str(folder / name) for name in table["file_name"]]
    return paths, list(table[label_column])


class LangIDSpokenDataModule(BucketedLangIDDataModule):
    """Audio/label pairs -> padded log-mel batches, length-bucketed for training.

    Args:
        root: where the embedded corpus is rendered (``corpus`` set).
        text_root: the written corpus the embedded corpus's sentences come from.
        corpus: :class:`SpokenCorpusSettings` fields, or ``None`` for an external dataset.
        data_dir: a local audio folder, read instead of the embedded corpus (which is then
            not rendered, whatever ``corpus`` holds); ``None``: the embedded corpus.
        label_column, splits: label column of ``metadata.csv``; split folder per stage.
        max_train_per_label: keep at most this many training clips per label (the first ones
            in file order); ``None`` keeps all.
        features: log-mel settings (``sample_rate``, ``n_mels``, ``n_fft``, ``win_length``,
            ``hop_length``) and ``max_seconds`` (longer clips are cut), ``min_seconds``.
        loader: :class:`tasks.batching.LoaderOptions`, batch sizes in clips.
    """

    config_schema: ClassVar[type] = LangIDSpokenDataConfig

    def __init__(
        self,
        *,
        root: str,
        text_root: str,
        corpus: Mapping[str, Any] | None,
        data_dir: str | None,
        features: Mapping[str, Any],
        label_column: str,
        splits: Mapping[str, str],
        max_train_per_label: int | None,
        **loader: int,
    ) -> None:
        super().__init__(LoaderOptions(**loader))
        self.root, self.text_root = Path(root), Path(text_root)
        self.corpus = dict(corpus) if corpus is not None else None
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.features = dict(features)
        self.label_column = label_column
        self.splits = dict(splits)
        self.max_train_per_label = max_train_per_label
        self.encoded: dict[str, Utterances] = {}
        self.labels: list[str] = []
        self.cmvn: dict[str, list[float]] | None = None

    def prepare_data(self) -> None:
        if self.corpus is not None and self.data_dir is None:  # a given folder wins
            settings = SpokenCorpusSettings.from_dict(self.corpus)
            self.data_dir = build_spoken_corpus(self.root, self.text_root, settings)

    def load(self) -> dict[str, tuple[list[str], list[str]]]:
        """``{stage: (audio paths, labels)}``."""
        if self.data_dir is None:
            self.prepare_data()
        assert self.data_dir is not None
        data = {
            stage: read_audio_split(self.data_dir / split, self.label_column)
            for stage, split in self.splits.items()
        }
        if self.max_train_per_label is not None and "train" in data:
            data["train"] = cap_per_label(*data["train"], self.max_train_per_label)
        return data

    def setup(self, stage: str | None = None) -> None:
        if self.encoded:
            return
        data = self.load()
        if self.fixed_artifacts is not None:
            self.labels = list(self.fixed_artifacts["labels"])
            self.features = dict(self.fixed_artifacts["features"])
        else:
            self.labels = sorted(set(data["train"][1]))
        for stage, (paths, labels) in data.items():
            self.encoded[stage] = self.encode(stage, paths, labels)
        if self.fixed_artifacts is None:
            mean, std = cmvn_stats(self.encoded["train"].features)
            self.cmvn = {"mean": mean.tolist(), "std": std.tolist()}

    def encode(self, split: str, audio: list[str], labels: list[str]) -> Utterances:
        """Decode and featurise one split; bad files and unknown labels are skipped, counted."""
        index = {label: i for i, label in enumerate(self.labels)}
        feats, targets = [], []
        skipped: Counter[str] = Counter()
        for record, label in tqdm(
            list(zip(audio, labels, strict=True)), desc=f"langid: features {split}", unit="utt"
        ):
            if label not in index:
                skipped["label not in the training labels"] += 1
                continue
            try:
                wave, _ = load_audio(
                    record, self.features["sample_rate"], self.features["min_seconds"]
                )
            except AudioDecodeError as error:
                skipped[error.reason] += 1
                log.warning("langid %s split: skipping %s", split, error)
                continue
            feats.append(utterance_features(wave, self.features))
            targets.append(index[label])
        for reason, count in skipped.items():
            log.warning("langid %s split: skipped %d utterances (%s)", split, count, reason)
        if not feats:
            raise ValueError(
                f"langid {split} split has no usable utterances (skipped: {dict(skipped)})"
            )
        return Utterances(feats, targets)

    def artifacts(self) -> dict[str, Any]:
        if self.fixed_artifacts is not None:
            return dict(self.fixed_artifacts)
        assert self.cmvn is not None, "call setup() first"
        return {
            "modality": "audio",
            "labels": list(self.labels),
            "features": dict(self.features),
            "cmvn": self.cmvn,
            "label_counts": self.train_label_counts(),
        }

    collate_fn = staticmethod(collate_utterances)

    def item_lengths(self, data: Utterances) -> list[int]:
        return [f.shape[0] for f in data.features]
