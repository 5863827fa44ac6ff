"""Predict languages of raw texts: undetermined inputs, truncation, batched top-k scoring."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from tasks.batching import pad_sequences
from tasks.langid.data.text_units import encode_text
from tasks.langid.predict.candidates import candidate_mask, candidate_top_k, restrict
from tasks.text.vocabulary import Vocabulary

log = logging.getLogger(__name__)

UNDETERMINED = "und"
"""ISO 639-2 code for "undetermined", returned when a text holds no letters or the best
language's calibrated probability is below the ``und_threshold``."""


def is_undetermined(text: str) -> bool:
    """Empty, whitespace, digit-only, punctuation-only or symbol-only text: no letter at all."""
    return not any(ch.isalpha() for ch in text)


def top_k_records(probabilities: torch.Tensor, labels: list[str], k: int) -> list[list[dict]]:
    """``(B, L)`` probabilities -> per row the ``k`` best ``{"language", "probability"}``."""
    values, indices = probabilities.topk(min(k, probabilities.shape[1]), dim=1)
    return [
        [
            {"language": labels[i], "probability": round(float(p), 6)}
            for p, i in zip(row_p.tolist(), row_i.tolist(), strict=True)
        ]
        for row_p, row_i in zip(values, indices, strict=True)
    ]


class TextPredictor:
    """Score texts with a written-LID module.

    Args:
        module: maps ``(ids (B, T), lengths (B,))`` to logits ``(B, L)``.
        vocabulary, artifacts: the checkpoint's symbol vocabulary, ``unit`` and ``labels``.
        settings: ``top_k``, ``max_chars`` (longer inputs are truncated with a notice),
            ``und_threshold`` (a best probability below it answers ``und``; 0 never does)
            and ``languages`` (the candidate labels; ``None``: all).
        temperature: probabilities are ``softmax(logits / temperature)``.
    """

    def __init__(
        self,
        module: nn.Module,
        vocabulary: Vocabulary,
        artifacts: Mapping[str, Any],
        settings: Mapping[str, Any],
        temperature: float = 1.0,
    ) -> None:
        self.module = module
        self.vocabulary = vocabulary
        self.unit = artifacts["unit"]
        self.max_units = artifacts["max_units"]
        self.labels = list(artifacts["labels"])
        self.max_chars = int(settings["max_chars"])
        self.und_threshold = float(settings.get("und_threshold", 0.0))
        if not 0.0 <= self.und_threshold <= 1.0:
            raise ValueError(f"model.predict.und_threshold={self.und_threshold} must lie in [0, 1]")
        self.temperature = temperature
        self.mask = candidate_mask(self.labels, settings.get("languages"))
        self.top_k = candidate_top_k(int(settings["top_k"]), self.mask)

    def predict(self, texts: list[str]) -> Iterator[dict]:
        records: list[dict] = [{"input": text} for text in texts]
        scored: list[int] = []
        for i, text in enumerate(texts):
            if is_undetermined(text):
                records[i].update(
                    language=UNDETERMINED,
                    probability=1.0,
                    top_k=[],
                    notice="no letters: empty, digit-only or punctuation-only text",
                )
                continue
            if len(text) > self.max_chars:
                notice = f"input of {len(text)} characters truncated to {self.max_chars}"
                log.warning("langid predict: %s", notice)
                records[i]["notice"] = notice
            scored.append(i)
        if scored:
            ids = [
                torch.tensor(
                    encode_text(
                        texts[i][: self.max_chars], self.vocabulary, self.unit, self.max_units
                    )
                )
                for i in scored
            ]
            padded, lengths = pad_sequences(ids, 0)
            device = next(self.module.parameters()).device
            logits = self.module(padded.to(device), lengths.to(device))
            logits = restrict(logits.float() / self.temperature, self.mask)
            probabilities = logits.softmax(-1).cpu()
            best = top_k_records(probabilities, self.labels, self.top_k)
            for i, ranked in zip(scored, best, strict=True):
                records[i].update(
                    language=ranked[0]["language"],
                    probability=ranked[0]["probability"],
                    top_k=ranked,
                )
                if ranked[0]["probability"] < self.und_threshold:
                    records[i]["language"] = UNDETERMINED
                    notice = (
                        f"best language {ranked[0]['language']} has probability "
                        f"{ranked[0]['probability']:.3f} < und_threshold {self.und_threshold}"
                    )
                    records[i]["notice"] = "; ".join(
                        filter(None, [records[i].get("notice"), notice])
                    )
        yield from records
