"""Predict the language of audio files with a spoken-LID module."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from torch import nn

from tasks.audio.io import load_audio
from tasks.batching import pad_sequences
from tasks.langid.model.audio_frontend import utterance_features
from tasks.langid.predict.candidates import candidate_mask, candidate_top_k, restrict
from tasks.langid.predict.text import top_k_records


class AudioPredictor:
    """Score audio files: decode (soundfile, resampled, mixed to mono), log-mel, classify.

    An unreadable, empty or too-short file raises ``AudioDecodeError`` (a ``ValueError``)
    naming the file, as the predict contract asks.
    """

    def __init__(
        self, module: nn.Module, artifacts: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> None:
        self.module = module
        self.features = artifacts["features"]
        self.labels = list(artifacts["labels"])
        self.mask = candidate_mask(self.labels, settings.get("languages"))
        self.top_k = candidate_top_k(int(settings["top_k"]), self.mask)

    def predict(self, paths: list[str]) -> Iterator[dict]:
        feats = []
        for path in paths:
            wave, _ = load_audio(path, self.features["sample_rate"], self.features["min_seconds"])
            feats.append(utterance_features(wave, self.features))
        padded, lengths = pad_sequences(feats, 0.0)
        device = next(self.module.parameters()).device
        logits = self.module(padded.to(device), lengths.to(device))
        probabilities = restrict(logits.float(), self.mask).softmax(-1).cpu()
        best = top_k_records(probabilities, self.labels, self.top_k)
        for path, ranked in zip(paths, best, strict=True):
            yield {
                "input": path,
                "language": ranked[0]["language"],
                "probability": ranked[0]["probability"],
                "top_k": ranked,
            }
