"""LightningDataModule of the speech recognition task (``cfg.data._target_``).

Pipeline: a source (``tasks.speech.data.sources``: the embedded ``speech_synth`` corpus, a local
``audiofolder`` or a parquet/hub dataset) gives raw rows; building a split's index
(``tasks.speech.data.index``) decodes every row once with ``tasks.audio.io.load_audio``
(resampled to ``sample_rate``, mixed down to mono), normalises its transcript
(``tasks.text.normalisers``), and skips bad samples with one warning per reason; the training
transcripts give the character vocabulary (CTC blank first) and the training log-mels the
global CMVN statistics. Items and batches come from ``tasks.speech.data.dataset``.

With ``cache_features=true`` (default) the log-mel features of every kept utterance are
computed once and cached in memory and on disk (``tasks.speech.data.feature_cache``), since
recomputing them every epoch would dominate training time on a CPU; SpecAugment and CMVN are
applied by the model. With ``cache_features=false`` (large real datasets) items are decoded in the
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

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from tasks.audio.features import LogMel, cmvn_stats
from tasks.audio.io import load_audio
from tasks.batching import LoaderOptions
from tasks.harness.datamodule import TaskDataModule
from tasks.speech.config import SpeechDataConfig
from tasks.speech.data.corpus import LM_TEXT_FILE, SPLITS, prepare_speech_synth
from tasks.speech.data.dataset import SpeechDataset, collate_speech
from tasks.speech.data.feature_cache import cache_file, read_cache, write_cache
from tasks.speech.data.index import IndexOptions, SplitIndex, build_index
from tasks.speech.data.sources import speech_source
from tasks.text.lm_text import read_lm_text
from tasks.text.normalisers import TEXT_NORMALISERS
from tasks.text.vocabulary import Vocabulary

BLANK = "<blank>"


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
        max_frames: frame budget per training batch (``B * T_max <= max_frames``) instead of
            ``batch_size`` utterances.
        sortagrad_epochs: first epochs whose training batches come shortest first.
        index_workers: processes that decode and check the data once when the index is built.
        cache_features: compute log-mels once and keep them (memory + disk cache).
        cache_dir: folder of the on-disk feature cache (``None``: memory only).
        output: ``features`` or ``waveforms`` (only without ``cache_features``).
        hf_cache_dir: ``datasets`` cache folder (``None``: its default).
        lm_text: text for the decoder's n-gram LMs besides the training transcripts:
            ``None`` (transcripts only), ``corpus`` (the embedded corpus's ``lm_text.txt``:
            every source sentence but the held-out ones) or a text file, one sentence per
            line (normalised like the transcripts).
        loader: :class:`tasks.batching.LoaderOptions`, batch sizes in utterances
            (``max_frames`` replaces ``batch_size`` when set).
    """

    config_schema: ClassVar[type] = SpeechDataConfig

    def __init__(
        self,
        *,
        source: str,
        corpus: Mapping[str, Any],
        dataset: Mapping[str, Any],
        sample_rate: int,
        features: Mapping[str, Any],
        text_normalizer: str,
        min_duration: float,
        max_duration: float,
        max_frames: int | None,
        sortagrad_epochs: int,
        index_workers: int,
        cache_features: bool,
        cache_dir: str | None,
        output: str,
        hf_cache_dir: str | None,
        lm_text: str | None,
        **loader: int,
    ) -> None:
        super().__init__(LoaderOptions(**loader))
        if lm_text == "corpus" and source != "synth":
            raise ValueError(
                "data.lm_text=corpus needs data.source=synth; give a text file or null instead"
            )
        self.speech_source = speech_source(source, corpus, dataset, hf_cache_dir)
        if text_normalizer not in TEXT_NORMALISERS:
            raise ValueError(f"data.text_normalizer must be one of {sorted(TEXT_NORMALISERS)}")
        if output not in ("features", "waveforms"):
            raise ValueError(f"data.output must be features or waveforms, got {output!r}")
        if output == "waveforms" and cache_features:
            raise ValueError("data.output=waveforms needs data.cache_features=false")
        self.corpus = dict(corpus)
        self.sample_rate = sample_rate
        self.feature_options = {"sample_rate": sample_rate, **features}
        self.text_normalizer = text_normalizer
        self.min_duration = min_duration
        self.max_duration = max_duration
        self.max_frames = max_frames
        self.sortagrad_epochs = sortagrad_epochs
        self.index_workers = index_workers
        self.cache_features = cache_features
        self.cache_dir = cache_dir
        self.output = output
        self.hf_cache_dir = hf_cache_dir
        self.lm_text = lm_text
        self.frontend = LogMel(**self.feature_options).eval()
        self.indices: dict[str, SplitIndex] = {}
        self.vocab: Vocabulary | None = None
        self.cmvn: tuple[Tensor, Tensor] | None = None
        self.datasets: dict[str, SpeechDataset] = {}

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
            index.drop_unknown_characters(self.vocab)
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
            sortagrad_epochs=self.sortagrad_epochs,
        )

    # ----------------------------------------------------------------- indices
    def _load_indices(self) -> None:
        if self.indices:
            return
        cache = self._cache_path()
        if cache is not None and cache.is_file():
            self.indices = read_cache(cache)
            return
        rows = self.speech_source.rows()
        options = IndexOptions(
            normaliser=self.text_normalizer,
            sample_rate=self.sample_rate,
            min_duration=self.min_duration,
            max_duration=self.max_duration,
            hop_length=self.frontend.hop_length,
            features=self.feature_options if self.cache_features else None,
        )
        self.indices = {
            split: build_index(rows[split], options, self.index_workers, split) for split in SPLITS
        }
        if self.indices["train"].features:
            self.indices["train"].cmvn = cmvn_stats(self._train_features())
        if cache is not None:
            write_cache(cache, self.indices)

    def _cache_path(self) -> Path | None:
        if not self.cache_features or self.cache_dir is None:
            return None
        return cache_file(
            self.cache_dir,
            self.speech_source.identity(),
            self.feature_options,
            self.text_normalizer,
            self.min_duration,
            self.max_duration,
        )

    def _train_features(self) -> Iterable[Tensor]:
        """Log-mels of every training utterance (cached, or decoded one at a time)."""
        train = self.indices["train"]
        if train.features is not None:
            return iter(train.features)
        return (
            self.frontend(load_audio(audio, self.sample_rate)[0][None])[0][0].detach()
            for audio in train.audio
        )

    @staticmethod
    def _warn_skipped(split: str, index: SplitIndex) -> None:
        for reason, count in sorted(index.skipped.items()):
            warnings.warn(
                f"speech data: skipped {count} {split} utterance(s): {reason} "
                f"(first: {index.examples[reason]})",
                stacklevel=3,
            )

