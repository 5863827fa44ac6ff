"""LightningDataModule of the speech recognition task (``cfg.data._target_``).

Pipeline: a source (``tasks.speech.data.sources``: the embedded ``speech_synth`` corpus, a local
``audiofolder`` or a parquet/hub dataset) gives raw rows; building a split's index decodes
every row once with ``tasks.audio.io.load_audio`` (resampled to ``sample_rate``, mixed down
to mono), normalises its transcript, and skips bad samples with one warning per reason;
the training transcripts give the character vocabulary (CTC blank first) and the training
log-mels the global CMVN statistics.

With ``cache_features=true`` (default) the log-mel features of every kept utterance are
computed once and cached in memory and on disk (``<cache_dir>/<key>.pt``), since recomputing
them every epoch would dominate training time on a CPU; SpecAugment and CMVN are applied by
the model. With ``cache_features=false`` (large real datasets) items are decoded in the
DataLoader workers and ``output`` decides whether they leave as features or waveforms.

Batch format (a ``dict``; ``B`` batch, ``T`` frames, ``F`` mel bins, ``S`` samples, ``L``
characters)::

    features          float32 (B, T, F)  log-mel, *not* CMVN-normalised, 0 after each length
    features_lengths  int64   (B,)       valid frames
      -- or, with output="waveforms" --
    waveforms         float32 (B, S)     mono audio at sample_rate, 0-padded
    waveforms_lengths int64   (B,)       valid samples
    targets           int64   (B, L)     character ids (vocab index; 0 = <blank> pads)
    targets_lengths   int64   (B,)       valid characters
    transcripts       list[str]          normalised reference transcripts
    ids               list[str]          utterance ids (``<split>/<file stem>``)

``artifacts()`` (plain containers, saved inside checkpoints)::

    vocabulary   Vocabulary.to_list() of the characters, "<blank>" at index 0
    cmvn         {"mean": Tensor (F,), "std": Tensor (F,)} over all training frames
    sample_rate  int
    features     LogMel keyword arguments: LogMel(**artifacts["features"]) rebuilds the front-end
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from tasks.audio.features import LogMel, cmvn_stats
from tasks.audio.io import AudioDecodeError, load_audio
from tasks.batching import pad_collate
from tasks.harness.datamodule import TaskDataModule
from tasks.speech.data.corpus import (
    LM_TEXT_FILE,
    SpeechSynthConfig,
    corpus_dir,
    prepare_speech_synth,
)
from tasks.speech.config import SpeechDataConfig
from tasks.speech.data.sources import SpeechRow, iter_audiofolder, iter_parquet, load_parquet_split
from tasks.text.spoken_form import to_spoken_form
from tasks.text.vocabulary import Vocabulary

BLANK = "<blank>"
SPLITS = ("train", "validation", "test")
_CACHE_VERSION = 1
TEXT_NORMALISERS: dict[str, Callable[[str], str]] = {
    "spoken_form": to_spoken_form,
    "lower": lambda text: " ".join(text.lower().split()),
    "none": lambda text: text,
}


@dataclass
class SplitIndex:
    """The kept utterances of one split, in source order, and what was skipped."""

    ids: list[str] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)  # frames
    features: list[Tensor] | None = None  # (T, F) float16 each, when cached
    audio: list[Any] = field(default_factory=list)  # path / record, when not cached
    extra: list[dict[str, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # reason -> first message
    cmvn: tuple[Tensor, Tensor] | None = None  # feature mean/std over the split (train)

    def skip(self, reason: str, message: str) -> None:
        self.skipped[reason] += 1
        self.examples.setdefault(reason, message)

    def select(self, keep: list[int]) -> None:
        """Keep only the utterances at positions ``keep``."""
        self.ids = [self.ids[i] for i in keep]
        self.transcripts = [self.transcripts[i] for i in keep]
        self.lengths = [self.lengths[i] for i in keep]
        self.extra = [self.extra[i] for i in keep]
        if self.features is not None:
            self.features = [self.features[i] for i in keep]
        if self.audio:
            self.audio = [self.audio[i] for i in keep]


class SpeechDataset(Dataset):
    """Items of one split: a dict with ``features`` (T, F) or ``waveforms`` (S,), ``targets``
    (L,), ``transcripts`` and ``ids`` (singular values; the collate makes them batches)."""

    def __init__(
        self,
        index: SplitIndex,
        vocab: Vocabulary,
        frontend: LogMel,
        sample_rate: int,
        output: str,
    ) -> None:
        self.index = index
        self.targets = [torch.tensor(vocab.encode(t), dtype=torch.long) for t in index.transcripts]
        self.frontend = frontend
        self.sample_rate = sample_rate
        self.output = output

    def __len__(self) -> int:
        return len(self.index.ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item: dict[str, Any] = {
            "targets": self.targets[i],
            "transcripts": self.index.transcripts[i],
            "ids": self.index.ids[i],
        }
        if self.index.features is not None:
            item["features"] = self.index.features[i].float()
            return item
        wave, _ = load_audio(self.index.audio[i], self.sample_rate)
        if self.output == "waveforms":
            item["waveforms"] = wave
        else:
            with torch.no_grad():
                item["features"] = self.frontend(wave[None])[0][0]
        return item


def collate_speech(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Pad the items of a batch (see the module docstring for the format)."""
    return pad_collate(items, padded={"features": 0.0, "waveforms": 0.0, "targets": 0})


class SpeechDataModule(TaskDataModule):
    """Speech recognition data: corpus preparation, validated split indices, batches.

    Args:
        source: ``synth``, ``audiofolder`` or ``hub`` (see ``tasks.speech.data.sources``).
        corpus: options of the embedded corpus (``tasks.speech.data.corpus.SpeechSynthConfig``).
        dataset: options of a real dataset: ``data_dir`` (audiofolder), ``path``, ``name``,
            ``data_files``, ``data_dir``, ``revision`` (hub/parquet), ``splits`` (our split
            name -> the dataset's split or folder name), ``audio_column``, ``text_column``,
            ``id_column``.
        sample_rate: audio is resampled to this rate.
        features: ``LogMel`` options (``n_mels``, ``n_fft``, ``win_length``, ``hop_length``,
            ``f_min``, ``f_max``, ``dither``).
        text_normalizer: ``spoken_form``, ``lower`` or ``none``.
        min_duration, max_duration: seconds; utterances outside are skipped.
        batch_size: utterances per batch (when ``max_frames`` is unset).
        max_frames: frame budget per training batch (``B * T_max <= max_frames``).
        eval_batch_size: utterances per validation/test batch.
        bucket_batches: batches' worth of utterances sorted by length together
            (``tasks.batching.BucketBatchSampler``): more means less padding, less randomness.
        sortagrad_epochs: first epochs whose training batches come shortest first.
        num_workers: DataLoader workers.
        index_workers: processes that decode and check the data once when the index is built.
        cache_features: compute log-mels once and keep them (memory + disk cache).
        cache_dir: folder of the on-disk feature cache (``None``: memory only).
        output: ``features`` or ``waveforms`` (only without ``cache_features``).
        seed: seed of the batch shuffling.
        hf_cache_dir: ``datasets`` cache folder (``None``: its default).
        lm_text: text for the decoder's n-gram LMs besides the training transcripts:
            ``None`` (transcripts only), ``corpus`` (the embedded corpus's ``lm_text.txt``:
            every source sentence but the held-out ones) or a text file, one sentence per
            line (normalised like the transcripts).
    """

    config_schema: ClassVar[type] = SpeechDataConfig

    def __init__(
        self,
        source: str = "synth",
        corpus: Mapping[str, Any] | None = None,
        dataset: Mapping[str, Any] | None = None,
        sample_rate: int = 16000,
        features: Mapping[str, Any] | None = None,
        text_normalizer: str = "spoken_form",
        min_duration: float = 0.1,
        max_duration: float = 30.0,
        batch_size: int = 16,
        max_frames: int | None = None,
        eval_batch_size: int = 32,
        bucket_batches: int = 50,
        sortagrad_epochs: int = 0,
        num_workers: int = 0,
        index_workers: int = 2,
        cache_features: bool = True,
        cache_dir: str | None = "data/speech_cache",
        output: str = "features",
        seed: int = 0,
        hf_cache_dir: str | None = None,
        lm_text: str | None = None,
    ) -> None:
        super().__init__()
        if lm_text == "corpus" and source != "synth":
            raise ValueError(
                "data.lm_text=corpus needs data.source=synth; give a text file or null instead"
            )
        if source not in ("synth", "audiofolder", "hub"):
            raise ValueError(f"data.source must be synth, audiofolder or hub, got {source!r}")
        if text_normalizer not in TEXT_NORMALISERS:
            raise ValueError(f"data.text_normalizer must be one of {sorted(TEXT_NORMALISERS)}")
        if output not in ("features", "waveforms"):
            raise ValueError(f"data.output must be features or waveforms, got {output!r}")
        if output == "waveforms" and cache_features:
            raise ValueError("data.output=waveforms needs data.cache_features=false")
        self.source = source
        self.corpus = dict(corpus or {})
        self.dataset = dict(dataset or {})
        self.sample_rate = sample_rate
        self.feature_options = {"sample_rate": sample_rate, **dict(features or {})}
        self.text_normalizer = text_normalizer
        self.min_duration = min_duration
        self.max_duration = max_duration
        self.batch_size = batch_size
        self.max_frames = max_frames
        self.eval_batch_size = eval_batch_size
        self.bucket_batches = bucket_batches
        self.sortagrad_epochs = sortagrad_epochs
        self.num_workers = num_workers
        self.index_workers = index_workers
        self.cache_features = cache_features
        self.cache_dir = cache_dir
        self.output = output
        self.seed = seed
        self.hf_cache_dir = hf_cache_dir
        self.lm_text = lm_text
        self.frontend = LogMel(**self.feature_options).eval()
        self.indices: dict[str, SplitIndex] = {}
        self.vocab: Vocabulary | None = None
        self.cmvn: tuple[Tensor, Tensor] | None = None
        self.datasets: dict[str, SpeechDataset] = {}
        self._corpus_dir: Path | None = None

    # ----------------------------------------------------------------- preparation
    def prepare_data(self) -> None:
        """Generate the embedded corpus if needed, then build (and cache) the split indices."""
        self._load_indices()

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        self._load_indices()
        if self.fixed_artifacts is not None:
            self.vocab = Vocabulary.from_list(self.fixed_artifacts["vocabulary"])
            cmvn = self.fixed_artifacts["cmvn"]
            self.cmvn = (torch.as_tensor(cmvn["mean"]), torch.as_tensor(cmvn["std"]))
        else:
            train = self.indices["train"]
            self.vocab = Vocabulary.build([list(t) for t in train.transcripts], specials=(BLANK,))
            self.cmvn = train.cmvn or cmvn_stats(self._train_features())
        for split, index in self.indices.items():
            self._drop_unknown_characters(split, index)
            self._warn_skipped(split, index)
            if not index.ids:
                raise ValueError(
                    f"speech data: split {split!r} has no usable utterances "
                    f"(skipped: {dict(index.skipped)})"
                )
            self.datasets[split] = SpeechDataset(
                index, self.vocab, self.frontend, self.sample_rate, self.output
            )

    def artifacts(self) -> dict[str, Any]:
        if self.fixed_artifacts is not None:
            return self.fixed_artifacts
        if self.vocab is None or self.cmvn is None:
            raise RuntimeError("call setup() before artifacts()")
        return {
            "vocabulary": self.vocab.to_list(),
            "cmvn": {"mean": self.cmvn[0].clone(), "std": self.cmvn[1].clone()},
            "sample_rate": self.sample_rate,
            "features": dict(self.feature_options),
        }

    def metadata(self, split: str) -> list[dict[str, str]]:
        """Per-utterance metadata of a split (id, transcript and source columns such as voice)."""
        index = self.indices[split]
        return [
            {"id": i, "transcript": t, **e}
            for i, t, e in zip(index.ids, index.transcripts, index.extra, strict=True)
        ]

    def lm_text_sentences(self) -> list[str]:
        """The ``lm_text`` sentences whose characters are all in the vocabulary, normalised
        like the transcripts: what the decoder's n-gram LMs read besides the training
        transcripts (call after ``setup``)."""
        assert self.vocab is not None, "call setup() before lm_text_sentences()"
        if self.lm_text is None:
            return []
        if self.lm_text == "corpus":
            path = prepare_speech_synth(self.corpus) / LM_TEXT_FILE
        else:
            path = Path(self.lm_text)
        return read_lm_text(path, self.text_normalizer, self.vocab)

    # ----------------------------------------------------------------- loaders
    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = self.datasets[split]
        return self.bucketed_loader(
            dataset,
            dataset.index.lengths,
            training=shuffle,
            collate_fn=collate_speech,
            max_frames=self.max_frames,
        )

    # ----------------------------------------------------------------- indices
    def _load_indices(self) -> None:
        if self.indices:
            return
        cache = self._cache_path()
        if cache is not None and cache.is_file():
            self.indices = _read_cache(cache)
            return
        rows = self._rows()
        self.indices = {split: self._build_index(split, rows[split]) for split in SPLITS}
        if self.indices["train"].features:
            self.indices["train"].cmvn = cmvn_stats(self._train_features())
        if cache is not None:
            _write_cache(cache, self.indices)

    def _rows(self) -> dict[str, Iterable[SpeechRow]]:
        splits = dict(self.dataset["splits"])
        text_column = self.dataset["text_column"]
        if self.source in ("synth", "audiofolder"):
            if self.source == "synth":
                self._corpus_dir = prepare_speech_synth(self.corpus)
                data_dir: str | Path = self._corpus_dir
            else:
                data_dir = self.dataset["data_dir"]
            return {
                s: iter_audiofolder(data_dir, splits[s], text_column, self.hf_cache_dir)
                for s in SPLITS
            }
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

    def _build_index(self, split: str, rows: Iterable[SpeechRow]) -> SplitIndex:
        """Decode and check every row once; keep features (cached) or the audio reference."""
        index = SplitIndex(features=[] if self.cache_features else None)
        options = _IndexOptions(
            normaliser=self.text_normalizer,
            sample_rate=self.sample_rate,
            min_duration=self.min_duration,
            max_duration=self.max_duration,
            hop_length=self.frontend.hop_length,
            features=self.feature_options if self.cache_features else None,
        )
        progress = dict(desc=f"indexing {split}", unit="utt", dynamic_ncols=True)
        if self.index_workers > 1:
            context = multiprocessing.get_context("fork")
            with context.Pool(self.index_workers, _init_index_worker, (options,)) as pool:
                for row, result in tqdm(pool.imap(_index_row, rows, chunksize=16), **progress):
                    _add_to_index(index, row, result)
        else:
            _init_index_worker(options)
            for row in tqdm(rows, **progress):
                _add_to_index(index, *_index_row(row))
        return index

    def _cache_path(self) -> Path | None:
        if not self.cache_features or self.cache_dir is None:
            return None
        if self.source == "synth":
            identity: Any = str(corpus_dir(SpeechSynthConfig.from_mapping(self.corpus)))
        else:
            identity = {k: v for k, v in self.dataset.items()}
            identity["source"] = self.source
            if self.source == "audiofolder":  # edited metadata invalidates the cache
                identity["metadata"] = sorted(
                    (str(p), p.stat().st_size, p.stat().st_mtime_ns)
                    for p in Path(self.dataset["data_dir"]).glob("*/metadata.*")
                )
        key = {
            "identity": identity,
            "features": self.feature_options,
            "text_normalizer": self.text_normalizer,
            "duration": [self.min_duration, self.max_duration],
            "version": _CACHE_VERSION,
        }
        digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
        return Path(self.cache_dir) / f"speech-{digest[:16]}.pt"

    def _train_features(self) -> Iterable[Tensor]:
        """Log-mels of every training utterance (cached, or decoded one at a time)."""
        train = self.indices["train"]
        if train.features is not None:
            return iter(train.features)
        return (
            self.frontend(load_audio(audio, self.sample_rate)[0][None])[0][0].detach()
            for audio in train.audio
        )

    def _drop_unknown_characters(self, split: str, index: SplitIndex) -> None:
        assert self.vocab is not None
        keep = []
        for i, transcript in enumerate(index.transcripts):
            unknown = sorted({c for c in transcript if c not in self.vocab})
            if unknown:
                index.skip(
                    "characters not in vocabulary",
                    f"{index.ids[i]}: {''.join(unknown)!r} in {transcript!r}",
                )
            else:
                keep.append(i)
        if len(keep) < len(index.ids):
            index.select(keep)

    @staticmethod
    def _warn_skipped(split: str, index: SplitIndex) -> None:
        for reason, count in sorted(index.skipped.items()):
            warnings.warn(
                f"speech data: skipped {count} {split} utterance(s): {reason} "
                f"(first: {index.examples[reason]})",
                stacklevel=3,
            )


def read_lm_text(path: Path, normaliser: str, vocab: Vocabulary) -> list[str]:
    """The lines of an LM text file normalised like the transcripts (``normaliser``: a
    ``data.text_normalizer`` name), without empty lines and lines with characters outside
    ``vocab``."""
    if not path.is_file():
        raise FileNotFoundError(
            f"data.lm_text: {path} is not a file; give a text file with one sentence "
            "per line, 'corpus' (embedded corpus) or null"
        )
    normalise = TEXT_NORMALISERS[normaliser]
    sentences = (normalise(line) for line in path.read_text(encoding="utf-8").splitlines())
    return [t for t in sentences if t.strip() and all(c in vocab for c in t)]


@dataclass(frozen=True)
class _IndexOptions:
    normaliser: str
    sample_rate: int
    min_duration: float
    max_duration: float
    hop_length: int
    features: dict[str, Any] | None  # LogMel options; None = do not compute features


_index_worker: dict[str, Any] = {}


def _init_index_worker(options: _IndexOptions) -> None:
    # One thread per process: the per-utterance STFTs are small, and more threads than cores
    # slow them down several times over.
    torch.set_num_threads(1)
    _index_worker["options"] = options
    _index_worker["frontend"] = LogMel(**options.features).eval() if options.features else None


def _index_row(row: SpeechRow) -> tuple[SpeechRow, tuple[Any, ...]]:
    """``(row, ("keep", transcript, frames, features | None))`` or ``(row, ("skip", reason,
    message))``; features are float16 ``(T, F)``."""
    options: _IndexOptions = _index_worker["options"]
    transcript = TEXT_NORMALISERS[options.normaliser](row.transcript)
    if not transcript.strip():
        return row, ("skip", "empty transcript", f"{row.id}: transcript {row.transcript!r}")
    try:
        wave, _ = load_audio(row.audio, options.sample_rate, options.min_duration)
    except AudioDecodeError as err:
        return row, ("skip", f"audio {err.reason.replace('_', ' ')}", str(err))
    seconds = wave.shape[0] / options.sample_rate
    if seconds > options.max_duration:
        return row, ("skip", "too long", f"{row.id}: {seconds:.1f} s > {options.max_duration} s")
    frames = wave.shape[0] // options.hop_length + 1  # as LogMel.num_frames
    features = None
    if _index_worker["frontend"] is not None:
        with torch.no_grad():
            features = _index_worker["frontend"](wave[None])[0][0].half()
    return row, ("keep", transcript, frames, features)


def _add_to_index(index: SplitIndex, row: SpeechRow, result: tuple[Any, ...]) -> None:
    if result[0] == "skip":
        index.skip(result[1], result[2])
        return
    _, transcript, frames, features = result
    index.ids.append(row.id)
    index.transcripts.append(transcript)
    index.lengths.append(frames)
    index.extra.append(dict(row.extra))
    if index.features is not None:
        index.features.append(features)
    else:
        index.audio.append(row.audio)


def _write_cache(path: Path, indices: dict[str, SplitIndex]) -> None:
    payload = {
        split: {
            "ids": index.ids,
            "transcripts": index.transcripts,
            "lengths": index.lengths,
            "features": index.features,
            "extra": index.extra,
            "skipped": dict(index.skipped),
            "examples": index.examples,
            "cmvn": list(index.cmvn) if index.cmvn is not None else None,
        }
        for split, index in indices.items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # atomic: concurrent runs never read a half-written cache


def _read_cache(path: Path) -> dict[str, SplitIndex]:
    payload = torch.load(path, weights_only=True)
    return {
        split: SplitIndex(
            ids=data["ids"],
            transcripts=data["transcripts"],
            lengths=data["lengths"],
            features=data["features"],
            extra=data["extra"],
            skipped=Counter(data["skipped"]),
            examples=data["examples"],
            cmvn=tuple(data["cmvn"]) if data["cmvn"] is not None else None,
        )
        for split, data in payload.items()
    }
