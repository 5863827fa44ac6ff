"""Where speech data comes from: raw ``(id, audio, transcript)`` rows of each split.

Three kinds of source, chosen by ``data.source``:

``synth``
    The embedded corpus (``tasks.speech.data.corpus``), generated on first use.
``audiofolder``
    A local folder in the ``audiofolder`` layout: ``<data_dir>/<split folder>/`` holding the
    audio files and a ``metadata.csv`` (or ``metadata.jsonl``) with a ``file_name`` column and
    a transcript column.
``hub``
    A parquet dataset with an audio struct column ``{bytes, path}``: a hub dataset
    (``openslr/librispeech_asr``, Common Voice parquet exports) or local parquet files
    (``path: parquet`` with ``data_files``).

``SOURCES`` maps each name to its :class:`SpeechSource`, which gives the rows of every split
and the identity the on-disk feature cache is keyed by.

Every source is read through ``datasets``. Audio is never decoded by ``datasets`` (its
decoder needs torchcodec/FFmpeg): metadata is read with the ``csv``/``json`` builders and
audio columns are cast to ``Audio(decode=False)``, so rows carry a file path or the raw bytes
for ``tasks.audio.io.load_audio``.
"""

from __future__ import annotations

import csv
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from tasks.audio.io import AudioSource
from tasks.speech.data.corpus import SPLITS, SpeechSynthConfig, corpus_dir, prepare_speech_synth


@dataclass(frozen=True)
class SpeechRow:
    """One raw example: ``audio`` is a path or a ``{"bytes", "path"}`` record."""

    id: str
    audio: AudioSource
    transcript: str
    extra: Mapping[str, str]


def _metadata_file(folder: Path) -> Path:
    for name in ("metadata.csv", "metadata.jsonl"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"{folder}: no metadata.csv or metadata.jsonl; an audiofolder split needs one, with a "
        f"'file_name' column (audio file relative to the folder) and a transcript column"
    )


def iter_audiofolder(
    data_dir: str | Path,
    split_folder: str,
    text_column: str = "transcription",
    cache_dir: str | None = None,
) -> Iterator[SpeechRow]:
    """Rows of ``<data_dir>/<split_folder>/metadata.{csv,jsonl}`` with absolute audio paths."""
    folder = Path(data_dir) / split_folder
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder}: split folder not found; expected <data_dir>/<split>/ with audio files "
            f"and metadata.csv (set data.dataset.splits to map split names to folder names)"
        )
    metadata = _metadata_file(folder)
    options: dict[str, Any] = {}
    if metadata.suffix == ".csv":
        # every column as text: transcripts like "1984" or "null" must stay as written
        with open(metadata, newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), [])
        features = datasets.Features({c: datasets.Value("string") for c in header})
        options = {"features": features, "keep_default_na": False}
    table = datasets.load_dataset(
        "csv" if metadata.suffix == ".csv" else "json",
        data_files={"rows": str(metadata)},
        split="rows",
        cache_dir=cache_dir,
        **options,
    )
    for column in ("file_name", text_column):
        if column not in table.column_names:
            raise KeyError(
                f"{metadata}: no column {column!r} (columns: {table.column_names}); "
                f"set data.dataset.text_column to the transcript column"
            )
    for row in table:
        file_name = str(row["file_name"])
        extra = {k: str(v) for k, v in row.items() if k not in ("file_name", text_column)}
        yield SpeechRow(
            id=f"{split_folder}/{Path(file_name).stem}",
            audio=str(folder / file_name),
            transcript=str(row[text_column] or ""),
            extra=extra,
        )


def load_parquet_split(
    path: str,
    split: str,
    name: str | None = None,
    data_files: Mapping[str, Any] | None = None,
    data_dir: str | None = None,
    revision: str | None = None,
    audio_column: str = "audio",
    cache_dir: str | None = None,
) -> datasets.Dataset:
    """One split of a parquet dataset with its audio column left undecoded."""
    table = datasets.load_dataset(
        path,
        name,
        split=split,
        data_files=dict(data_files) if data_files else None,
        data_dir=data_dir,
        revision=revision,
        cache_dir=cache_dir,
    )
    if audio_column not in table.column_names:
        raise KeyError(
            f"dataset {path!r} split {split!r}: no audio column {audio_column!r} "
            f"(columns: {table.column_names}); set data.dataset.audio_column"
        )
    return table.cast_column(audio_column, datasets.Audio(decode=False))


def iter_parquet(
    table: datasets.Dataset, audio_column: str, text_column: str, id_column: str | None
) -> Iterator[SpeechRow]:
    """Rows of a parquet split; ``audio`` is the ``{"bytes", "path"}`` record."""
    if text_column not in table.column_names:
        raise KeyError(
            f"no transcript column {text_column!r} (columns: {table.column_names}); "
            f"set data.dataset.text_column"
        )
    for index, row in enumerate(table):
        audio = row[audio_column] or {}
        fallback = Path(str(audio.get("path") or f"row{index}")).stem
        yield SpeechRow(
            id=str(row[id_column]) if id_column and row.get(id_column) else f"{index}:{fallback}",
            audio=audio,
            transcript=str(row[text_column] or ""),
            extra={},
        )


class SpeechSource(ABC):
    """The rows of every split of one kind of source.

    Args:
        corpus: options of the embedded corpus (``tasks.speech.data.corpus.SpeechSynthConfig``).
        dataset: options of a real dataset (see ``SpeechDataModule``).
        hf_cache_dir: ``datasets`` cache folder (``None``: its default).
    """

    def __init__(
        self, corpus: Mapping[str, Any], dataset: Mapping[str, Any], hf_cache_dir: str | None
    ) -> None:
        self.corpus = dict(corpus)
        self.dataset = dict(dataset)
        self.hf_cache_dir = hf_cache_dir

    @abstractmethod
    def rows(self) -> dict[str, Iterable[SpeechRow]]:
        """The raw rows of each split of ``SPLITS``."""

    @abstractmethod
    def identity(self) -> Any:
        """JSON-able description of the data, part of the feature cache's key: equal
        identities must mean equal rows."""

    def _split_names(self) -> dict[str, str]:
        return dict(self.dataset["splits"])

    def _text_column(self) -> str:
        return self.dataset["text_column"]


class SynthSource(SpeechSource):
    """The embedded corpus, generated on first use, read as an audiofolder."""

    def rows(self) -> dict[str, Iterable[SpeechRow]]:
        data_dir = prepare_speech_synth(self.corpus)
        splits, text_column = self._split_names(), self._text_column()
        return {
            s: iter_audiofolder(data_dir, splits[s], text_column, self.hf_cache_dir)
            for s in SPLITS
        }

    def identity(self) -> Any:
        return str(corpus_dir(SpeechSynthConfig.from_mapping(self.corpus)))


class AudioFolderSource(SpeechSource):
    """A local audiofolder at ``dataset["data_dir"]``."""

    def rows(self) -> dict[str, Iterable[SpeechRow]]:
        splits, text_column = self._split_names(), self._text_column()
        return {
            s: iter_audiofolder(self.dataset["data_dir"], splits[s], text_column, self.hf_cache_dir)
            for s in SPLITS
        }

    def identity(self) -> Any:
        # edited metadata invalidates the cache
        metadata = sorted(
            (str(p), p.stat().st_size, p.stat().st_mtime_ns)
            for p in Path(self.dataset["data_dir"]).glob("*/metadata.*")
        )
        return {**self.dataset, "source": "audiofolder", "metadata": metadata}


class HubSource(SpeechSource):
    """A parquet dataset (hub or local files); every split is loaded before any is read."""

    def rows(self) -> dict[str, Iterable[SpeechRow]]:
        splits, text_column = self._split_names(), self._text_column()
        audio_column = self.dataset["audio_column"]
        loaded = {
            s: load_parquet_split(
                self.dataset["path"],
                splits[s],
                name=self.dataset["name"],
                data_files=self.dataset["data_files"],
                data_dir=self.dataset["data_dir"],
                revision=self.dataset["revision"],
                audio_column=audio_column,
                cache_dir=self.hf_cache_dir,
            )
            for s in SPLITS
        }
        return {
            s: iter_parquet(t, audio_column, text_column, self.dataset["id_column"])
            for s, t in loaded.items()
        }

    def identity(self) -> Any:
        return {**self.dataset, "source": "hub"}


SOURCES: dict[str, type[SpeechSource]] = {
    "synth": SynthSource,
    "audiofolder": AudioFolderSource,
    "hub": HubSource,
}
"""``data.source`` name -> source class."""


def speech_source(
    name: str,
    corpus: Mapping[str, Any],
    dataset: Mapping[str, Any],
    hf_cache_dir: str | None,
) -> SpeechSource:
    """The source called ``name`` in ``SOURCES``, with a clear error for an unknown name."""
    if name not in SOURCES:
        known = ", ".join(SOURCES)
        raise ValueError(f"data.source must be one of {known}, got {name!r}")
    return SOURCES[name](corpus, dataset, hf_cache_dir)
