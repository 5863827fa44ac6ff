"""Schemas of the captioning task's options: types only, checked by
:mod:`tasks.harness.config_schema`; every value comes from ``conf/task/captioning.yaml``,
``conf/encoder/captioning/*.yaml`` and ``conf/data/captioning_*.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks.batching import LoaderOptions


@dataclass
class TorchvisionEncoderConfig:
    """``conf/encoder/captioning/<torchvision model>.yaml``: a torchvision feature grid."""

    name: str
    pretrained: bool
    freeze: bool
    trainable_blocks: int


@dataclass
class SmallCNNEncoderConfig(TorchvisionEncoderConfig):
    """``conf/encoder/captioning/small_cnn.yaml``: the small CNN's channels per block."""

    channels: list[int]


@dataclass
class DecoderConfig:
    """``model.decoder``: keyword arguments of the attention-LSTM decoder."""

    embedding_size: int
    hidden_size: int
    attention: str
    attention_size: int
    gating: bool
    dropout: float
    deep_output: bool
    init_from_memory: bool


@dataclass
class ScheduledSamplingConfig:
    max_probability: float
    ramp_epochs: int


@dataclass
class DecodingConfig:
    """``model.decoding``: the caption search of test and predict."""

    search: str
    beam_size: int
    max_len: int
    length_penalty: float
    no_repeat_ngram_size: int


@dataclass
class CaptioningPredictConfig:
    """``model.predict``: attention-map figures of predict."""

    attention_maps: bool
    attention_dir: str


@dataclass
class CaptioningPredictOptions(DecodingConfig, CaptioningPredictConfig):
    """``options`` of ``scripts/predict.py`` (over ``model.predict`` and ``model.decoding``)."""


@dataclass
class CaptioningModelConfig:
    """``model``: ``encoder`` is checked against its schema separately."""

    encoder: Any
    decoder: DecoderConfig
    attention_regularizer: float
    scheduled_sampling: ScheduledSamplingConfig
    decoding: DecodingConfig
    predict: CaptioningPredictConfig


@dataclass
class CaptioningDataConfig(LoaderOptions):
    """``data``: keyword arguments of
    :class:`tasks.captioning.data.datamodule.CaptioningDataModule`: the shared loader options
    and its own (``source`` is the instantiated caption source)."""

    _target_: str
    source: dict[str, Any]
    image_size: int
    min_freq: int
    max_caption_length: int
    cache_images: bool
