"""LightningModule of language identification, written or spoken (``artifacts["modality"]``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from tasks.harness.eval_records import Record
from tasks.harness.module import TaskModule
from tasks.langid.model import LanguageIdentifier, TextFrontEnd
from tasks.langid.predict import TextPredictor
from tasks.langid.scores import (
    confusion_matrix,
    per_language_markdown,
    plot_confusion,
    summary_scores,
)
from tasks.text.vocabulary import Vocabulary


def build_frontend(encoder: Mapping[str, Any], artifacts: Mapping[str, Any]) -> torch.nn.Module:
    """The front-end matching the data's modality, with a clear error on a mismatch."""
    modality = artifacts["modality"]
    if encoder["modality"] != modality:
        raise ValueError(
            f"encoder={encoder['name']} reads {encoder['modality']} input but the data is "
            f"{modality}: pick a {modality} encoder (text_bilstm for text, audio_bilstm for audio)"
        )
    if modality == "text":
        vocab_size = len(artifacts["vocabulary"]["itos"])
        return TextFrontEnd(
            vocab_size,
            encoder["embedding_dim"],
            encoder["embedding_dropout"],
            conv_channels=encoder["conv_channels"],
            conv_kernel=encoder["conv_kernel"],
            conv_stride=encoder["conv_stride"],
        )
    from tasks.langid.audio_frontend import AudioFrontEnd

    return AudioFrontEnd.from_config(encoder, artifacts)


class LangIDModule(TaskModule):
    """Cross-entropy language classifier.

    ``model`` config: ``encoder`` (front-end + BiLSTM + pooling fields, see
    ``conf/encoder/text_bilstm.yaml``), ``classifier_dropout``, ``label_smoothing``,
    ``short_text_chars`` (texts up to this length are also scored separately) and
    ``predict`` defaults (``top_k``, ``max_chars``).

    Batches: ``inputs (B, T[, F])``, ``inputs_lengths (B,)``, ``label (B,)`` and, for text,
    ``n_chars (B,)``.
    """

    def __init__(
        self, model: Mapping[str, Any], optim: Mapping[str, Any], artifacts: Mapping[str, Any]
    ) -> None:
        super().__init__(model, optim, artifacts)
        encoder = model["encoder"]
        self.labels: list[str] = list(artifacts["labels"])
        self.modality: str = artifacts["modality"]
        self.model = LanguageIdentifier(
            build_frontend(encoder, artifacts),
            hidden_size=encoder["hidden_size"],
            num_layers=encoder["num_layers"],
            dropout=encoder["dropout"],
            variants=encoder.get("variants") or {},
            pooling=encoder["pooling"],
            attention_dim=encoder["attention_dim"],
            classifier_dropout=model["classifier_dropout"],
            n_labels=len(self.labels),
        )

    @property
    def input_kind(self) -> str:  # type: ignore[override]
        """Texts for the written model, audio file paths for the spoken one."""
        return "text" if self.modality == "text" else "file"

    @property
    def vocabulary(self) -> Vocabulary | None:
        if self.modality != "text":
            return None
        return Vocabulary.from_list(self.hparams["artifacts"]["vocabulary"])

    def output_vocabularies(self) -> dict[str, list[str]]:
        """The classifier rows follow the labels; the text embedding rows follow the symbols."""
        vocabularies = {"model.head.": list(self.labels)}
        if self.modality == "text":
            vocabularies["model.frontend.embedding."] = list(
                self.hparams["artifacts"]["vocabulary"]["itos"]
            )
        return vocabularies

    def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        """Logits ``(B, n_labels)``."""
        return self.model(inputs, lengths)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        logits = self(batch["inputs"], batch["inputs_lengths"])
        loss = F.cross_entropy(
            logits, batch["label"], label_smoothing=self.hparams["model"]["label_smoothing"]
        )
        self.log_metrics("train", {"loss": loss}, batch_size=len(batch["label"]))
        return loss

    def evaluation_step(self, batch: dict[str, Any], stage: str) -> None:
        logits = self(batch["inputs"], batch["inputs_lengths"])
        loss = F.cross_entropy(logits, batch["label"])
        columns = {"predicted": logits.argmax(-1).tolist(), "label": batch["label"].tolist()}
        if "n_chars" in batch:
            columns["n_chars"] = batch["n_chars"].tolist()
        self.record(stage, batch, **columns)
        self.log_metrics(stage, {"loss": loss}, batch_size=len(batch["label"]))

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self.evaluation_step(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self.evaluation_step(batch, "test")

    def confusion(self, records: list[Record]) -> Tensor:
        """``(K, K)`` counts of true label ``i`` predicted as ``j`` over ``records``."""
        k = len(self.labels)
        truth, predicted = [r["label"] for r in records], [r["predicted"] for r in records]
        return confusion_matrix(truth, predicted, k)[:, :k]

    def evaluation_metrics(self, stage: str, records: list[Record]) -> dict[str, float]:
        """Accuracy and macro-F1 from the confusion matrix of all records; in test of written
        language ID also ``acc_short`` over texts of at most ``short_text_chars`` characters,
        ``n_short`` and ``n``."""
        scores = summary_scores(self.confusion(records))
        metrics = {"acc": scores["acc"], "macro_f1": scores["macro_f1"]}
        if stage == "test" and self.modality == "text":
            limit = self.hparams["model"]["short_text_chars"]
            short = summary_scores(self.confusion([r for r in records if r["n_chars"] <= limit]))
            metrics.update(acc_short=short["acc"], n_short=short["n"], n=scores["n"])
        return metrics

    def on_test_epoch_end(self) -> None:
        records = self.finish_evaluation("test")
        if records and self.trainer.is_global_zero:
            self.write_report(self.confusion(records))

    def write_report(self, matrix: Tensor) -> None:
        """Per-language precision/recall table and the confusion-matrix PNG in the run dir."""
        table = per_language_markdown(matrix, self.labels)
        (self.run_dir / "langid_per_language.md").write_text(table, encoding="utf-8")
        plot_confusion(
            matrix,
            self.labels,
            self.plot_dir / "langid_confusion.png",
            f"language ID confusion ({self.modality}, test)",
        )

    def predict_items(self, inputs: list[str], options: Mapping[str, Any]) -> Iterator[dict]:
        """One record per input: ``input``, ``language``, ``probability``, ``top_k`` list and
        a ``notice`` when the text was truncated or is undetermined (``und``)."""
        settings = {**self.hparams["model"]["predict"], **dict(options)}
        if self.modality == "text":
            predictor = TextPredictor(self, self.vocabulary, self.hparams["artifacts"], settings)
        else:
            from tasks.langid.audio_predict import AudioPredictor

            predictor = AudioPredictor(self, self.hparams["artifacts"], settings)
        yield from predictor.predict(inputs)
