"""Items and batches of one speech split (the batch format is in
``tasks.speech.data.datamodule``)."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset

from tasks.audio.features import LogMel
from tasks.audio.io import load_audio
from tasks.batching import pad_collate
from tasks.speech.data.index import SplitIndex
from tasks.text.vocabulary import Vocabulary


class SpeechDataset(Dataset):
    """Items of one split: a dict with ``features`` (T, F) or ``waveforms`` (S,), ``targets``
    (L,), ``transcripts`` and ``ids`` (singular values; the collate makes them batches).

    Cached features are served from the index; otherwise each item's audio is decoded here
    and leaves as a waveform (``output="waveforms"``) or as ``frontend``'s log-mel.
    """

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
    """Pad the items of a batch: features and waveforms with 0.0, targets with 0 (blank)."""
    return pad_collate(items, padded={"features": 0.0, "waveforms": 0.0, "targets": 0})
