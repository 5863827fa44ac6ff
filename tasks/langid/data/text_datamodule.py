"""Written-LID data: the embedded gettext corpus, a hub dataset or local CSV/JSONL files.

Every source goes through ``datasets.load_dataset(**dataset)``: the embedded corpus is
the ``json`` builder over ``root/{train,validation,test}.jsonl`` (built by
``prepare_data`` when missing), ``papluca/language-identification`` is a parquet hub
dataset, local files use the ``csv``/``json`` builders. Column and split names are config.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch
from datasets import DatasetDict, load_dataset
from torch.utils.data import Dataset

from tasks.batching import LoaderOptions, pad_collate
from tasks.langid.config import LangIDTextDataConfig
from tasks.langid.data.bucketed_datamodule import BucketedLangIDDataModule
from tasks.langid.data.sources import SOURCES
from tasks.langid.data.text_augmentation import TextAugmentation, augment_texts
from tasks.langid.data.text_corpus import TextCorpusSettings, build_text_corpus
from tasks.langid.data.text_units import build_unit_vocabulary, encode_text
from tasks.text.vocabulary import Vocabulary

log = logging.getLogger(__name__)

SOURCE_COLUMN = "source"  # provenance column of the embedded corpus
CSV_ONLY_OPTIONS = ("keep_default_na",)  # options of the csv builder (pandas) alone


class EncodedTexts(Dataset):
    """Items ``{"inputs": (T,) int64, "label": () int64, "n_chars": () int64}``."""

    def __init__(self, ids: list[list[int]], labels: list[int], n_chars: list[int]) -> None:
        self.ids, self.labels, self.n_chars = ids, labels, n_chars

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {
            "inputs": torch.tensor(self.ids[index], dtype=torch.long),
            "label": torch.tensor(self.labels[index]),
            "n_chars": torch.tensor(self.n_chars[index]),
        }


def collate_texts(items: list[dict[str, torch.Tensor]]) -> dict[str, Any]:
    """Pad ``inputs`` with 0 to ``(B, T_max)``; adds ``inputs_lengths (B,)``."""
    return pad_collate(items, {"inputs": 0})


def cap_per_label(texts: list[Any], labels: list[str], cap: int) -> tuple[list[Any], list[str]]:
    """The first ``cap`` rows of every label, in their original order."""
    seen: dict[str, int] = {}
    kept = []
    for i, label in enumerate(labels):
        seen[label] = seen.get(label, 0) + 1
        if seen[label] <= cap:
            kept.append(i)
    return [texts[i] for i in kept], [labels[i] for i in kept]


class LangIDTextDataModule(BucketedLangIDDataModule):
    """Text/label pairs -> padded symbol-id batches, length-bucketed for training.

    Args:
        root: folder of the embedded corpus (``corpus`` set) or unused.
        corpus: :class:`TextCorpusSettings` fields to build the embedded corpus, or ``None``
            for an external dataset.
        dataset: keyword arguments of ``datasets.load_dataset``; ``None`` loads the embedded
            corpus's JSONL files.
        text_column, label_column: column names in the dataset.
        splits: dataset split name for each stage (``train``, ``validation``, ``test``).
        unit: ``char`` or ``byte`` symbols; ``min_unit_freq``: characters rarer than this in
            the training split become ``<unk>``.
        max_units: texts are truncated to this many symbols.
        max_train_per_label: keep at most this many training rows per label (the first ones
            in file order; ``None`` keeps all): balances skewed data and bounds training time.
        held_out_source: leave-one-domain-out: train and validate without the rows whose
            ``source`` column is this source, test on its rows alone (``None``: all rows).
        augmentation: :class:`TextAugmentation` fields: extra training rows made from the
            training rows (joined, recased, cropped, unaccented, mixed texts); ``None``: none.
        loader: :class:`tasks.batching.LoaderOptions`, batch sizes in texts.
    """

    config_schema: ClassVar[type] = LangIDTextDataConfig

    def __init__(
        self,
        *,
        root: str,
        corpus: Mapping[str, Any] | None,
        dataset: Mapping[str, Any] | None,
        text_column: str,
        label_column: str,
        splits: Mapping[str, str],
        unit: str,
        min_unit_freq: int,
        max_units: int,
        max_train_per_label: int | None,
        held_out_source: str | None,
        augmentation: Mapping[str, Any] | None,
        **loader: int,
    ) -> None:
        super().__init__(LoaderOptions(**loader))
        self.root = Path(root)
        self.corpus = dict(corpus) if corpus is not None else None
        self.dataset = dict(dataset) if dataset is not None else None
        self.text_column, self.label_column = text_column, label_column
        self.splits = dict(splits)
        self.unit, self.min_unit_freq, self.max_units = unit, min_unit_freq, max_units
        self.max_train_per_label = max_train_per_label
        self.held_out_source = held_out_source
        self.augmentation = (
            TextAugmentation.from_dict(augmentation) if augmentation is not None else None
        )
        self.raw: dict[str, tuple[list[str], list[str]]] = {}
        self.encoded: dict[str, EncodedTexts] = {}
        self.vocabulary: Vocabulary | None = None
        self.labels: list[str] = []

    def prepare_data(self) -> None:
        if self.corpus is not None:
            build_text_corpus(self.root, TextCorpusSettings.from_dict(self.corpus))

    def load_raw(self) -> dict[str, tuple[list[str], list[str]]]:
        """``{stage: (texts, labels)}`` as strings, straight from the dataset."""
        if self.raw:
            return self.raw
        if self.dataset is None:
            files = {s: str(self.root / f"{s}.jsonl") for s in self.splits.values()}
            kwargs: dict[str, Any] = {"path": "json", "data_files": files}
        else:
            kwargs = dict(self.dataset)
            if kwargs.get("path") != "csv":
                # pandas' options (data=langid_local sets one) would make other builders fail
                kwargs = {k: v for k, v in kwargs.items() if k not in CSV_ONLY_OPTIONS}
        data = load_dataset(**kwargs)
        if not isinstance(data, DatasetDict):
            raise ValueError(f"data.dataset {kwargs} must give named splits, got {type(data)}")
        for stage, split in self.splits.items():
            if split not in data:
                raise ValueError(
                    f"split {split!r} (data.splits.{stage}) not in the dataset; it has "
                    f"{sorted(data)}"
                )
            columns = data[split].column_names
            for field, column in (
                ("text_column", self.text_column),
                ("label_column", self.label_column),
            ):
                if column not in columns:
                    raise ValueError(
                        f"column {column!r} (data.{field}) not in split {split!r}; its columns "
                        f"are {columns}: set data.{field}"
                    )
            rows = data[split]
            if self.held_out_source is not None:
                rows = self.leave_source_out(rows, split, keep=stage == "test")
            # One slice, not rows[column]: a datasets Column reads row by row, and indexing
            # it in the augmentation took longer than the rest of the setup together.
            columns = rows.select_columns([self.text_column, self.label_column])[:]
            texts = columns[self.text_column]
            labels = [str(label) for label in columns[self.label_column]]
            if stage == "train" and self.max_train_per_label is not None:
                texts, labels = cap_per_label(texts, labels, self.max_train_per_label)
            if stage == "train" and self.augmentation is not None:
                before = len(texts)
                texts, labels = augment_texts(
                    texts, labels, self.augmentation, self.loader_options.seed
                )
                log.info("langid train split: %d rows + %d augmented", before, len(texts) - before)
            self.raw[stage] = (texts, labels)
        return self.raw

    def leave_source_out(self, rows: Any, split: str, keep: bool) -> Any:
        """The rows of ``held_out_source`` (``keep``) or all the others (``not keep``)."""
        if SOURCE_COLUMN not in rows.column_names:
            raise ValueError(
                f"data.held_out_source={self.held_out_source!r} needs a {SOURCE_COLUMN!r} "
                f"column; split {split!r} has {rows.column_names} (the embedded corpus has it)"
            )
        sources = rows.select_columns([SOURCE_COLUMN])[:][SOURCE_COLUMN]
        if self.held_out_source not in set(sources):
            source = SOURCES.get(self.held_out_source)
            why = (
                f": {self.held_out_source} is a training-only source (its texts are in the "
                "training split alone, so there is nothing to test on); hold out a domain"
                if source is not None and source.training_only
                else ""
            )
            raise ValueError(
                f"data.held_out_source={self.held_out_source!r} has no rows in split {split!r}; "
                f"its sources are {sorted(set(sources))}{why}"
            )
        indices = [i for i, s in enumerate(sources) if (s == self.held_out_source) == keep]
        return rows.select(indices)

    def setup(self, stage: str | None = None) -> None:
        if self.encoded:
            return
        raw = self.load_raw()
        train_texts, train_labels = raw["train"]
        if self.fixed_artifacts is not None:
            self.labels = list(self.fixed_artifacts["labels"])
            self.vocabulary = Vocabulary.from_list(self.fixed_artifacts["vocabulary"])
            self.unit = self.fixed_artifacts["unit"]
            self.max_units = self.fixed_artifacts["max_units"]
        else:
            self.labels = sorted(set(train_labels))
            usable = [t for t in train_texts if isinstance(t, str)]
            self.vocabulary = build_unit_vocabulary(usable, self.unit, self.min_unit_freq)
        for name, (texts, labels) in raw.items():
            self.encoded[name] = self.encode(name, texts, labels)

    def encode(self, split: str, texts: list[Any], labels: list[str]) -> EncodedTexts:
        """Encode one split; rows with a missing/empty text or an unknown label are skipped
        and counted with a warning."""
        assert self.vocabulary is not None
        index = {label: i for i, label in enumerate(self.labels)}
        ids, targets, n_chars = [], [], []
        skipped = {"empty text": 0, "label not in the training labels": 0}
        for text, label in zip(texts, labels, strict=True):
            if not isinstance(text, str) or not text.strip():
                skipped["empty text"] += 1
            elif label not in index:
                skipped["label not in the training labels"] += 1
            else:
                ids.append(encode_text(text, self.vocabulary, self.unit, self.max_units))
                targets.append(index[label])
                n_chars.append(len(text))
        for reason, count in skipped.items():
            if count:
                log.warning("langid %s split: skipped %d rows (%s)", split, count, reason)
        if not ids:
            raise ValueError(f"langid {split} split has no usable rows (skipped: {skipped})")
        return EncodedTexts(ids, targets, n_chars)

    def artifacts(self) -> dict[str, Any]:
        if self.fixed_artifacts is not None:
            return dict(self.fixed_artifacts)
        assert self.vocabulary is not None, "call setup() first"
        return {
            "modality": "text",
            "labels": list(self.labels),
            "vocabulary": self.vocabulary.to_list(),
            "unit": self.unit,
            "max_units": self.max_units,
            "label_counts": self.train_label_counts(),
        }

    collate_fn = staticmethod(collate_texts)

    def item_lengths(self, data: EncodedTexts) -> list[int]:
        return [len(x) for x in data.ids]
