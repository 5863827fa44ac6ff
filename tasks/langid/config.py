"""Schemas of the language-ID task's options (values: ``conf/task/langid.yaml``,
``conf/encoder/langid/*.yaml``, ``conf/data/langid_*.yaml``).

Fields carry types only: every value comes from the YAML (see :mod:`tasks.harness.config_schema`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks.audio.features import SpecAugmentConfig
from tasks.batching import LoaderOptions


@dataclass
class LangIDEncoderConfig:
    """What both front-ends share: the BiLSTM and the pooling over its outputs."""

    name: str
    modality: str
    conv_channels: int
    hidden_size: int
    num_layers: int
    dropout: float
    lstm_options: dict[str, Any]
    pooling: str
    attention_dim: int


@dataclass
class TextEncoderConfig(LangIDEncoderConfig):
    """``conf/encoder/langid/text_bilstm.yaml``: symbol embedding + strided convolution."""

    embedding_dim: int
    embedding_dropout: float
    conv_kernel: int
    conv_stride: int
    ngram_buckets: int
    ngram_dim: int
    ngram_orders: list[int]
    ngram_dropout: float
    ngram_word_buckets: int


@dataclass
class AudioEncoderConfig(LangIDEncoderConfig):
    """``conf/encoder/langid/audio_bilstm.yaml``: CMVN, SpecAugment, time subsampling."""

    normalization: str
    spec_augment: SpecAugmentConfig
    subsampling: str
    subsampling_factor: int


ENCODER_SCHEMAS: dict[str, type] = {"text": TextEncoderConfig, "audio": AudioEncoderConfig}
"""Encoder schema of each ``modality``."""


@dataclass
class LangIDPredictConfig:
    """``model.predict``, also the ``options`` of ``scripts/predict.py``."""

    top_k: int
    max_chars: int
    und_threshold: float
    languages: list[str] | None


@dataclass
class LangIDModelConfig:
    """``model``: ``encoder`` is checked against its modality's schema separately."""

    encoder: Any
    classifier_dropout: float
    label_smoothing: float
    logit_adjustment: float
    short_text_chars: int
    predict: LangIDPredictConfig


@dataclass
class SplitNames:
    """``data.splits``: the dataset's split (or folder) name of each stage."""

    train: str
    validation: str
    test: str


@dataclass
class TextAugmentationConfig:
    """``data.augmentation``: :class:`tasks.langid.data.text_augmentation.TextAugmentation`."""

    joined: float
    max_joined: int
    recased: float
    cropped: float
    unaccented: float
    mixed_per_language: int
    min_mixed_words: int
    max_mixed_words: int


@dataclass
class LangIDTextDataConfig(LoaderOptions):
    """``data`` of :class:`tasks.langid.data.text_datamodule.LangIDTextDataModule` (the
    shared loader options and its own)."""

    _target_: str
    root: str
    corpus: dict[str, Any] | None
    dataset: dict[str, Any] | None
    text_column: str
    label_column: str
    splits: SplitNames
    unit: str
    min_unit_freq: int
    max_units: int
    max_train_per_label: int | None
    held_out_source: str | None
    augmentation: TextAugmentationConfig | None


@dataclass
class SpokenFeaturesConfig:
    """``data.features`` of spoken language ID: log-mel settings and clip lengths."""

    sample_rate: int
    n_mels: int
    n_fft: int
    win_length: int
    hop_length: int
    max_seconds: float
    min_seconds: float


@dataclass
class LangIDSpokenDataConfig(LoaderOptions):
    """``data`` of :class:`tasks.langid.data.spoken_datamodule.LangIDSpokenDataModule` (the
    shared loader options and its own)."""

    _target_: str
    root: str
    text_root: str
    corpus: dict[str, Any] | None
    data_dir: str | None
    features: SpokenFeaturesConfig
    label_column: str
    splits: SplitNames
    max_train_per_label: int | None
