"""Where caption data comes from; every source yields the same table per split.

Each split is a ``datasets.Dataset`` with two columns: ``image`` (an undecoded
``{"bytes", "path"}`` record, decoded later by :mod:`tasks.captioning.data.images`) and
``captions`` (list of reference strings). Split names are ``train``, ``validation``, ``test``
and, for the embedded corpus, ``test_novel``.

Sources:
    :class:`ShapesSource`       the embedded rendered corpus (generated on ``prepare``)
    :class:`ImageFolderSource`  any ``imagefolder`` directory with ``metadata.jsonl`` captions
    :class:`HubSource`          a hub (or local) parquet dataset, e.g. Flickr8k, COCO Karpathy
    :class:`CocoJsonSource`     a local folder with COCO-format caption JSON files
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import datasets

from tasks.captioning.data.corpus import ShapesCorpusConfig, generate_corpus

Splits = dict[str, datasets.Dataset]
_IMAGE = datasets.Image(decode=False)


def _standardise(ds: datasets.Dataset, captions: list[list[str]] | None = None) -> datasets.Dataset:
    """Keep ``image`` (undecoded) and ``captions`` (a list of strings) only."""
    if captions is not None:
        ds = ds.remove_columns([c for c in ds.column_names if c != "image"])
        ds = ds.add_column("captions", captions)
    ds = ds.cast_column("image", _IMAGE)
    return ds.select_columns(["image", "captions"])


class ImageFolderSource:
    """An ``imagefolder`` layout: ``root/<split>/*.png|jpg`` + ``root/<split>/metadata.jsonl``.

    Args:
        root: folder holding one sub-folder per split.
        captions_column: metadata field holding the list of captions of each image.
        splits: split names to load; missing split folders are skipped.
    """

    def __init__(
        self,
        root: str,
        captions_column: str = "captions",
        splits: Sequence[str] = ("train", "validation", "test", "test_novel"),
    ) -> None:
        self.root = Path(root)
        self.captions_column = captions_column
        self.splits = tuple(splits)

    def prepare(self) -> None:
        if not self.root.is_dir():
            raise FileNotFoundError(f"caption image folder {self.root} does not exist")

    def load(self) -> Splits:
        present = [s for s in self.splits if (self.root / s / "metadata.jsonl").is_file()]
        if "train" not in present and "test" not in present:
            raise FileNotFoundError(
                f"{self.root} has no train/ or test/ folder with a metadata.jsonl "
                "(lines of {'file_name': ..., '" + self.captions_column + "': [...]})"
            )
        files = {s: str(self.root / s / "**") for s in present}
        loaded = datasets.load_dataset("imagefolder", data_files=files)
        out = {}
        for split, ds in loaded.items():
            if self.captions_column not in ds.column_names:
                raise KeyError(
                    f"{self.root / split / 'metadata.jsonl'} has no '{self.captions_column}' field"
                )
            if self.captions_column != "captions":
                ds = ds.rename_column(self.captions_column, "captions")
            out[split] = _standardise(ds)
        return out


class ShapesSource(ImageFolderSource):
    """The embedded ``captioning_shapes`` corpus, rendered into ``root`` on first use."""

    def __init__(self, root: str, **corpus: object) -> None:
        super().__init__(root)
        self.config = ShapesCorpusConfig(**corpus)  # type: ignore[arg-type]

    def prepare(self) -> None:
        generate_corpus(self.root, self.config)


def _join_captions(row: Mapping[str, object], columns: Sequence[str]) -> list[str]:
    """Captions of one row from string columns and/or list-of-string columns."""
    captions: list[str] = []
    for column in columns:
        value = row[column]
        if isinstance(value, str):
            captions.append(value)
        elif isinstance(value, Mapping) and "raw" in value:  # Karpathy {"raw", "tokens"} records
            raws = value["raw"]
            captions.extend([raws] if isinstance(raws, str) else raws)
        else:
            captions.extend(v["raw"] if isinstance(v, Mapping) else str(v) for v in value)  # type: ignore[union-attr]
    return captions


class HubSource:
    """A parquet dataset from the hub (or a local folder in the same layout).

    Args:
        path: hub id (``jxie/flickr8k``) or a local directory with the same parquet files.
        split_map: our split name -> the dataset's split name.
        caption_columns: columns holding captions (strings, or lists of strings/``raw`` records).
        image_column: column with embedded images; ``None`` when images are files on disk.
        image_root: folder the path columns are relative to (for datasets without pixels,
            such as the COCO Karpathy split list).
        path_columns: columns joined (``os.path.join``) under ``image_root`` to find each file.
        revision: dataset revision to pin.
    """

    def __init__(
        self,
        path: str,
        split_map: Mapping[str, str],
        caption_columns: Sequence[str],
        image_column: str | None = "image",
        image_root: str | None = None,
        path_columns: Sequence[str] = (),
        revision: str | None = None,
    ) -> None:
        if image_column is None and (image_root is None or not path_columns):
            raise ValueError(
                "without image_column, set image_root and path_columns to locate images"
            )
        self.path = path
        self.split_map = dict(split_map)
        self.caption_columns = list(caption_columns)
        self.image_column = image_column
        self.image_root = image_root
        self.path_columns = list(path_columns)
        self.revision = revision

    def prepare(self) -> None:
        if self.image_root is not None and not Path(self.image_root).is_dir():
            raise FileNotFoundError(
                f"image_root {self.image_root} does not exist: download the images "
                f"(e.g. COCO train2014/val2014) and point data.source.image_root at them"
            )

    def _load_split(self, split: str) -> datasets.Dataset:
        try:
            return datasets.load_dataset(self.path, split=split, revision=self.revision)
        except (FileNotFoundError, ConnectionError, OSError) as err:
            raise RuntimeError(
                f"cannot load dataset {self.path!r} split {split!r} ({err}); without internet, "
                "download it elsewhere and set data.source.path to the local folder"
            ) from None

    def load(self) -> Splits:
        out = {}
        for ours, theirs in self.split_map.items():
            ds = self._load_split(theirs)
            missing = [
                c for c in self.caption_columns + self.path_columns if c not in ds.column_names
            ]
            if missing:
                raise KeyError(
                    f"dataset {self.path!r} has no column(s) {missing}; it has {ds.column_names}"
                )
            columns = ds.select_columns(self.caption_columns + self.path_columns)
            captions = [_join_captions(row, self.caption_columns) for row in columns]
            if self.image_column is None:
                paths = [
                    os.path.join(self.image_root, *(str(row[c]) for c in self.path_columns))  # type: ignore[arg-type]
                    for row in columns
                ]
                ds = datasets.Dataset.from_dict({"image": paths})
                ds = ds.cast_column("image", _IMAGE)
            elif self.image_column != "image":
                ds = ds.rename_column(self.image_column, "image")
            out[ours] = _standardise(ds, captions)
        return out


class CocoJsonSource:
    """A local folder with COCO-format caption files (``images`` + ``annotations`` lists).

    Args:
        root: dataset folder.
        annotations: split -> JSON file (relative to ``root``), e.g. ``annotations/captions_val2014.json``.
        image_dirs: split -> folder the JSON's ``file_name`` entries are relative to.
    """

    def __init__(
        self, root: str, annotations: Mapping[str, str], image_dirs: Mapping[str, str]
    ) -> None:
        self.root = Path(root)
        self.annotations = dict(annotations)
        self.image_dirs = dict(image_dirs)

    def prepare(self) -> None:
        for split, rel in self.annotations.items():
            if not (self.root / rel).is_file():
                raise FileNotFoundError(
                    f"COCO caption file for split {split!r} not found: {self.root / rel}"
                )

    def _read(self, split: str) -> tuple[list[str], list[list[str]]]:
        json_path = self.root / self.annotations[split]
        try:
            coco = json.loads(json_path.read_text())
            images = {img["id"]: img["file_name"] for img in coco["images"]}
            by_image: dict[int, list[str]] = {i: [] for i in images}
            for ann in coco["annotations"]:
                by_image[ann["image_id"]].append(ann["caption"])
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(
                f"{json_path} is not a COCO captions file (needs images[{{id, file_name}}] and "
                f"annotations[{{image_id, caption}}]): {err!r}"
            ) from None
        image_dir = self.root / self.image_dirs.get(split, "")
        ids = sorted(i for i, caps in by_image.items() if caps)
        return [str(image_dir / images[i]) for i in ids], [by_image[i] for i in ids]

    def load(self) -> Splits:
        out = {}
        for split in self.annotations:
            paths, captions = self._read(split)
            ds = datasets.Dataset.from_dict({"image": paths, "captions": captions})
            out[split] = _standardise(ds)
        return out
