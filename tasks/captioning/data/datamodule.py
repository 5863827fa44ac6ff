"""LightningDataModule for image captioning: any caption source -> padded image/caption batches."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import datasets
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from tasks.captioning.config import CaptioningDataConfig
from tasks.captioning.data.images import ImageLoadError, image_to_pixels, load_image, pixels_to_tensor
from tasks.captioning.tokenization import PAD, build_vocabulary, encode_caption, tokenize
from tasks.batching import LoaderOptions
from tasks.harness.datamodule import TaskDataModule
from tasks.text.vocabulary import Vocabulary

EVAL_SPLITS: tuple[str, ...] = ("test", "test_novel")


def image_name(record: dict[str, Any], index: int) -> str:
    """How an image is named in errors and outputs: its path, or its row for embedded bytes."""
    return record.get("path") or f"row {index}"


class CaptionDataset(Dataset):
    """Images with their captions; an unreadable image yields ``None`` (skipped by the collate).

    In ``pairs`` mode (training) there is one item per (image, caption) pair, so an epoch sees
    every reference once; otherwise one item per image with all its references. With
    ``cache_images`` each image is decoded once and its resized pixels kept in memory as uint8
    (``3 * image_size**2`` bytes per image), instead of once per caption and epoch.
    """

    def __init__(
        self,
        table: datasets.Dataset,
        vocab: Vocabulary,
        image_size: int,
        max_caption_length: int,
        pairs: bool,
        split: str = "",
        cache_images: bool = False,
    ) -> None:
        self.table = table
        self.split = split
        self.vocab = vocab
        self.image_size = image_size
        self.max_caption_length = max_caption_length
        self.cache: dict[int, torch.Tensor] | None = {} if cache_images else None
        counts = [len(c) for c in table["captions"]]
        if pairs:
            self.index = [(i, j) for i, n in enumerate(counts) for j in range(n)]
        else:
            self.index = [(i, 0) for i, n in enumerate(counts) if n > 0]

    def __len__(self) -> int:
        return len(self.index)

    def caption_lengths(self) -> list[int]:
        """Token count of each item's caption (what the bucketing sampler groups by)."""
        captions = self.table["captions"]
        return [len(tokenize(captions[i][j])) + 2 for i, j in self.index]

    def __getitem__(self, item: int) -> dict[str, Any] | None:
        row, caption_index = self.index[item]
        record = self.table[row]
        name = image_name(record["image"], row)
        pixels = None if self.cache is None else self.cache.get(row)
        if pixels is None:
            try:
                image = load_image(record["image"]["bytes"] or record["image"]["path"], name=name)
            except ImageLoadError as err:
                warnings.warn(f"skipping image: {err}", stacklevel=1)
                return None
            pixels = image_to_pixels(image, self.image_size)
            if self.cache is not None:
                self.cache[row] = pixels
        captions = record["captions"]
        return {
            "image": pixels_to_tensor(pixels),
            "tokens": encode_caption(self.vocab, captions[caption_index], self.max_caption_length),
            "references": list(captions),
            "name": name,
            "split": self.split,
        }


def collate_captions(items: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    """Stack images (B, 3, H, W); pad ``<bos> .. <eos>`` token ids to (B, L) with ``<pad>``.

    ``skipped`` counts the unreadable images dropped from this batch.
    """
    good = [x for x in items if x is not None]
    lengths = torch.tensor([len(x["tokens"]) for x in good], dtype=torch.long)
    tokens = torch.full((len(good), max(lengths.tolist(), default=0)), PAD, dtype=torch.long)
    for b, x in enumerate(good):
        tokens[b, : len(x["tokens"])] = torch.tensor(x["tokens"])
    images = torch.stack([x["image"] for x in good]) if good else torch.empty(0, 3, 0, 0)
    return {
        "images": images,
        "tokens": tokens,
        "lengths": lengths,
        "references": [x["references"] for x in good],
        "names": [x["name"] for x in good],
        "splits": [x["split"] for x in good],
        "skipped": len(items) - len(good),
    }


class CaptioningDataModule(TaskDataModule):
    """Caption data from any :mod:`tasks.captioning.data.sources` source.

    Args:
        source: object with ``prepare()`` and ``load() -> {split: Dataset(image, captions)}``.
        image_size: images are resized to ``image_size`` x ``image_size``.
        min_freq: words seen fewer times in training captions map to ``<unk>``.
        max_caption_length: training captions are cut to this many words.
        cache_images: keep decoded, resized images in memory as uint8 (for corpora that fit:
            6,000 images at 64 px take 74 MB); otherwise decode on every access.
        loader: :class:`tasks.batching.LoaderOptions`; a training batch holds ``batch_size``
            (image, caption) pairs, an evaluation batch ``eval_batch_size`` images.
    """

    config_schema: ClassVar[type] = CaptioningDataConfig

    def __init__(
        self,
        *,
        source: Any,
        image_size: int,
        min_freq: int,
        max_caption_length: int,
        cache_images: bool,
        **loader: int,
    ) -> None:
        super().__init__(LoaderOptions(**loader))
        self.source = source
        self.image_size = image_size
        self.min_freq = min_freq
        self.max_caption_length = max_caption_length
        self.cache_images = cache_images
        self.splits: dict[str, datasets.Dataset] = {}

    def prepare_data(self) -> None:
        self.source.prepare()

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self.splits = self.source.load()

    def artifacts(self) -> dict[str, Any]:
        """The caption vocabulary (from the train split) and the image size."""
        if self.fixed_artifacts is not None:
            return self.fixed_artifacts
        if "train" not in self.splits:
            raise RuntimeError("artifacts() needs setup() on a source with a train split")
        captions = (c for caps in self.splits["train"]["captions"] for c in caps)
        vocab = build_vocabulary(captions, self.min_freq)
        self.fixed_artifacts = {"vocabulary": vocab.to_list(), "image_size": self.image_size}
        return self.fixed_artifacts

    @property
    def vocab(self) -> Vocabulary:
        return Vocabulary.from_list(self.artifacts()["vocabulary"])

    def _loader(self, splits: Sequence[str], train: bool) -> DataLoader:
        vocab = self.vocab
        parts = [
            CaptionDataset(
                self.splits[s],
                vocab,
                self.image_size,
                self.max_caption_length,
                train,
                s,
                self.cache_images,
            )
            for s in splits
        ]
        return self.bucketed_loader(
            ConcatDataset(parts),
            [n for part in parts for n in part.caption_lengths()],
            training=train,
            collate_fn=collate_captions,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(["train"], train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(["validation"], train=False)

    def test_split_names(self) -> list[str]:
        """Evaluated splits: ``test`` and, when present, ``test_novel`` (one loader for both)."""
        return [s for s in EVAL_SPLITS if s in self.splits]

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_split_names(), train=False)
