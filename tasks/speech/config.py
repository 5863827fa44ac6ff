"""Schemas of the speech task's options (values: ``conf/task/speech.yaml``,
``conf/encoder/speech/*.yaml``, ``conf/data/speech_*.yaml``).

Fields carry types only: every value comes from the YAML (see :mod:`tasks.harness.config_schema`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks.audio.features import SpecAugmentConfig
from tasks.batching import LoaderOptions


@dataclass
class SpeechEncoderConfig:
    """``conf/encoder/speech/<name>.yaml``: keyword arguments of
    :class:`tasks.speech.model.SpeechRecognizer` (and the encoder's ``name``)."""

    name: str
    normalization: str
    subsampling: str
    subsampling_factor: int
    conv_channels: int
    hidden_size: int
    num_layers: int
    bidirectional: bool
    pyramid_after: list[int]
    dropout: float
    lstm_options: dict[str, Any]


@dataclass
class SearchConfig:
    """The CTC prefix beam search (:class:`tasks.speech.decoding.ctc.CTCPrefixBeamSearch`):
    what predict options may change per call."""

    beam_size: int
    token_prune: float
    lm_weight: float
    word_bonus: float
    char_lm_weight: float


@dataclass
class SpeechDecodingConfig(SearchConfig):
    """``model.decoding``: the search plus the n-gram LMs it fuses and evaluation settings."""

    lm_order: int
    char_lm_order: int
    lm_add_k: float
    lm_prior: float
    val_beam: bool
    examples: int


@dataclass
class SpeechPredictConfig:
    """``model.predict``: how predict reads and feeds audio."""

    streaming: bool
    chunk_seconds: float
    min_seconds: float


@dataclass
class SpeechPredictOptions(SearchConfig, SpeechPredictConfig):
    """``options`` of ``scripts/predict.py`` (over ``model.predict`` and the search of
    ``model.decoding``)."""


@dataclass
class SpeechModelConfig:
    """``model``: ``encoder`` is checked against :class:`SpeechEncoderConfig` separately."""

    encoder: Any
    spec_augment: SpecAugmentConfig
    decoding: SpeechDecodingConfig
    predict: SpeechPredictConfig


@dataclass
class SpeechFeaturesConfig:
    """``data.features``: :class:`tasks.audio.features.LogMel` options (the sample rate is
    ``data.sample_rate``)."""

    n_mels: int
    n_fft: int
    win_length: int
    hop_length: int
    f_min: float
    f_max: float | None
    dither: float


@dataclass
class SpeechDatasetConfig:
    """``data.dataset``: a real dataset (``source=audiofolder|hub``), or the column names of
    the embedded corpus's audiofolder."""

    path: str | None
    name: str | None
    data_files: Any
    data_dir: str | None
    revision: str | None
    splits: dict[str, str]
    audio_column: str
    text_column: str
    id_column: str | None


@dataclass
class SpeechDataConfig(LoaderOptions):
    """``data``: keyword arguments of :class:`tasks.speech.data.datamodule.SpeechDataModule`
    (the shared loader options and its own)."""

    _target_: str
    source: str
    corpus: dict[str, Any]
    dataset: SpeechDatasetConfig
    sample_rate: int
    features: SpeechFeaturesConfig
    text_normalizer: str
    min_duration: float
    max_duration: float
    max_frames: int | None
    sortagrad_epochs: int
    index_workers: int
    cache_features: bool
    cache_dir: str | None
    output: str
    hf_cache_dir: str | None
    lm_text: str | None
