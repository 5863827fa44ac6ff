"""A tiny task following the harness contract, for the harness tests.

Items are sequences of scalars whose values scatter around a label-specific centre; the model
embeds each value, mean-pools over the true length, batch-normalises and classifies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from tasks.batching import LoaderOptions, pad_collate
from tasks.harness.datamodule import TaskDataModule
from tasks.harness.module import TaskModule


@dataclass
class ToyDataConfig(LoaderOptions):
    _target_: str
    root: str
    centers: dict[str, float]
    sizes: dict[str, int]


@dataclass
class ToyEncoderConfig:
    hidden_size: int


@dataclass
class ToyPredictOptions:
    """``model.predict``: ``top_k`` labels listed per input (null: all)."""

    top_k: int | None


@dataclass
class ToyModelConfig:
    encoder: Any
    fail_at_epoch: int | None
    dropout: float
    predict: ToyPredictOptions


class ToyDataModule(TaskDataModule):
    """Items of ``min_len`` to ``max_len`` values around their label's entry of ``centers``
    (``noise`` their spread), ``sizes[split]`` items per split, written once under ``root``."""

    config_schema: ClassVar[type] = ToyDataConfig

    def __init__(
        self,
        *,
        centers: dict[str, float],
        sizes: dict[str, int],
        root: str,
        min_len: int = 3,
        max_len: int = 12,
        noise: float = 0.4,
        **loader: int,
    ) -> None:
        super().__init__(LoaderOptions(**loader))
        self.root = Path(root)
        self.centers = centers
        self.sizes = sizes
        self.min_len, self.max_len, self.noise = min_len, max_len, noise
        self.splits: dict[str, list[dict[str, Any]]] = {}

    @property
    def corpus_file(self) -> Path:
        return self.root / f"toy_{self.loader_options.seed}_{'_'.join(sorted(self.centers))}.json"

    def prepare_data(self) -> None:
        if self.corpus_file.is_file():
            return
        generator = torch.Generator().manual_seed(self.loader_options.seed)
        labels = sorted(self.centers)
        corpus = {}
        for split, size in self.sizes.items():
            items = []
            for _ in range(size):
                label = labels[int(torch.randint(len(labels), (1,), generator=generator))]
                length = int(
                    torch.randint(self.min_len, self.max_len + 1, (1,), generator=generator)
                )
                values = self.centers[label] + self.noise * torch.randn(length, generator=generator)
                items.append({"values": values.tolist(), "label": label})
            corpus[split] = items
        self.root.mkdir(parents=True, exist_ok=True)
        self.corpus_file.write_text(json.dumps(corpus))

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self.splits = json.loads(self.corpus_file.read_text())

    def artifacts(self) -> dict[str, Any]:
        if self.fixed_artifacts is not None:
            return self.fixed_artifacts
        values = torch.tensor([v for item in self.splits["train"] for v in item["values"]])
        return {"labels": sorted(self.centers), "mean": values.mean(), "std": values.std()}

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        label_index = {label: i for i, label in enumerate(self.artifacts()["labels"])}
        items = [
            {
                "values": torch.tensor(item["values"]),
                "label": torch.tensor(label_index[item["label"]]),
            }
            for item in self.splits[split]
        ]
        return self.bucketed_loader(
            items,
            [len(item["values"]) for item in items],
            training=shuffle,
            collate_fn=lambda b: pad_collate(b, {"values": 0.0}),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


class ToyEncoder(nn.Module):
    """``(B, T)`` values -> ``(B, H)``: per-step embedding, masked mean over ``T``, batch norm,
    dropout (so training draws random numbers)."""

    def __init__(self, hidden_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.embed = nn.Linear(1, hidden_size)
        self.norm = nn.BatchNorm1d(hidden_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, values: Tensor, lengths: Tensor) -> Tensor:
        mask = (torch.arange(values.shape[1]) < lengths[:, None]).float()
        steps = torch.tanh(self.embed(values[..., None])) * mask[..., None]
        return self.dropout(self.norm(steps.sum(1) / lengths[:, None].float()))


class ToyModule(TaskModule):
    input_kind = "text"
    model_schema: ClassVar[type] = ToyModelConfig
    predict_schema: ClassVar[type] = ToyPredictOptions

    @classmethod
    def encoder_schema(cls, encoder: Mapping[str, Any]) -> type:
        return ToyEncoderConfig

    def __init__(
        self, model: Mapping[str, Any], optim: Mapping[str, Any], artifacts: Mapping[str, Any]
    ) -> None:
        super().__init__(model, optim, artifacts)
        self.labels: list[str] = list(artifacts["labels"])
        self.encoder = ToyEncoder(model["encoder"]["hidden_size"], model["dropout"])
        self.head = nn.Linear(model["encoder"]["hidden_size"], len(self.labels))
        self.fail_at_epoch = model["fail_at_epoch"]

    def output_vocabularies(self) -> dict[str, list[str]]:
        return {"head.": self.labels}

    def forward(self, values: Tensor, lengths: Tensor) -> Tensor:
        artifacts = self.hparams["artifacts"]
        normalised = (values - artifacts["mean"]) / artifacts["std"]
        return self.head(self.encoder(normalised, lengths))

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        logits = self(batch["values"], batch["values_lengths"])
        loss = nn.functional.cross_entropy(logits, batch["label"])
        accuracy = (logits.argmax(-1) == batch["label"]).float().mean()
        self.log_metrics(stage, {"loss": loss, "acc": accuracy}, batch_size=len(batch["label"]))
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        if self.current_epoch == self.fail_at_epoch:
            raise RuntimeError(f"simulated crash in epoch {self.current_epoch}")
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def predict_items(self, inputs: list[str], options: Mapping[str, Any]) -> Iterator[dict]:
        top_k = self.predict_options(options)["top_k"]
        for text in inputs:
            try:
                values = torch.tensor([float(v) for v in text.split()])
            except ValueError as error:
                raise ValueError(f"input {text!r} is not a list of numbers") from error
            probs = self(values[None], torch.tensor([len(values)])).softmax(-1)[0]
            top = probs.argsort(descending=True)[:top_k]
            yield {
                "input": text,
                "label": self.labels[int(top[0])],
                "scores": {self.labels[int(i)]: round(float(probs[i]), 6) for i in top},
            }
