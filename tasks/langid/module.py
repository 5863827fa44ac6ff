"""LightningModule of language identification, written or spoken (``artifacts["modality"]``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import Tensor

from lstmkit import record_gates
from tasks.audio.io import load_audio
from tasks.harness.errors import ConfigError
from tasks.harness.eval_records import Record
from tasks.harness.export import ExportGraph
from tasks.harness.gate_plots import GateView, draw_spectrogram, draw_tokens, recorded_layers
from tasks.harness.module import TaskModule
from tasks.langid.calibration import expected_calibration_error, fit_temperature
from tasks.langid.config import ENCODER_SCHEMAS, LangIDModelConfig, LangIDPredictConfig
from tasks.langid.data.text_units import text_units, word_symbols
from tasks.langid.metrics import (
    confusion_matrix,
    per_language_markdown,
    plot_confusion,
    summary_scores,
)
from tasks.langid.model.identifier import LanguageIdentifier, TextFrontEnd
from tasks.langid.model.ngram_bag import HashedNgramBag
from tasks.langid.predict.candidates import candidate_mask
from tasks.langid.predict.text import TextPredictor
from tasks.text.vocabulary import Vocabulary


def build_frontend(encoder: Mapping[str, Any], artifacts: Mapping[str, Any]) -> torch.nn.Module:
    """The front-end matching the data's modality, with a clear error on a mismatch."""
    modality = artifacts["modality"]
    if encoder["modality"] != modality:
        raise ValueError(
            f"encoder={encoder['name']} reads {encoder['modality']} input but the data is "
            f"{modality}: pick a {modality} encoder (encoder=langid/text_bilstm for text, "
            "encoder=langid/audio_bilstm for audio)"
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
    from tasks.langid.model.audio_frontend import audio_frontend

    return audio_frontend(encoder, artifacts)


def build_ngram_bag(
    encoder: Mapping[str, Any], artifacts: Mapping[str, Any]
) -> HashedNgramBag | None:
    """The hashed n-gram bag of a text encoder with ``ngram_buckets > 0``, else ``None``."""
    if encoder["modality"] != "text" or not encoder["ngram_buckets"]:
        return None
    return HashedNgramBag(
        artifacts["vocabulary"]["itos"],
        encoder["ngram_buckets"],
        encoder["ngram_dim"],
        encoder["ngram_orders"],
        encoder["ngram_dropout"],
        word_buckets=encoder["ngram_word_buckets"],
        word_symbols=word_symbols(artifacts["vocabulary"]["itos"], artifacts["unit"]),
    )


def logit_offset(artifacts: Mapping[str, Any], strength: float, n_labels: int) -> Tensor:
    """``(K,)`` offsets ``tau * log(pi_k)`` of the logit-adjusted loss, ``pi`` the training
    label frequencies in ``artifacts["label_counts"]``; zeros without counts or with
    ``tau = 0``."""
    counts = artifacts.get("label_counts")
    if not counts or strength == 0.0:
        return torch.zeros(n_labels)
    prior = torch.tensor(counts, dtype=torch.float32).clamp_min(1.0)
    return strength * (prior / prior.sum()).log()


def default_temperature(state_dict: dict[str, Tensor], prefix: str, *args: Any) -> None:
    """Checkpoints written before temperature scaling load with ``T = 1`` (raw softmax)."""
    state_dict.setdefault(f"{prefix}temperature", torch.ones(()))


class LangIDModule(TaskModule):
    """Cross-entropy language classifier.

    ``model`` config: ``encoder`` (front-end + BiLSTM + pooling fields, see
    ``conf/encoder/langid/text_bilstm.yaml``), ``classifier_dropout``, ``label_smoothing``,
    ``short_text_chars`` (texts up to this length are also scored separately),
    ``logit_adjustment`` and
    ``predict`` defaults (``top_k``, ``max_chars``, ``und_threshold``); schemas in
    :mod:`tasks.langid.config`. Written-text probabilities are ``softmax(logits /
    temperature)`` with the temperature fitted on the validation set
    (:mod:`tasks.langid.calibration`).

    Logit adjustment (Menon et al., 2021, "Long-tail learning via logit adjustment"): the
    training loss is ``CE(z + tau * log(pi), y)`` with ``pi`` the training label
    frequencies and ``tau = model.logit_adjustment``. The network's own logits ``z`` then
    score ``p(y | x) / pi(y) ** tau``: with ``tau = 1`` a language that had more training
    rows gets no head start, the right decision when any language may come next (as in a
    domain the corpus never saw). Nothing changes at inference.

    Batches: ``inputs (B, T[, F])``, ``inputs_lengths (B,)``, ``label (B,)`` and, for text,
    ``n_chars (B,)``.
    """

    model_schema: ClassVar[type] = LangIDModelConfig
    predict_schema: ClassVar[type] = LangIDPredictConfig

    @classmethod
    def encoder_schema(cls, encoder: Mapping[str, Any]) -> type:
        """The text or audio encoder schema, by the encoder's ``modality``."""
        modality = encoder.get("modality") if isinstance(encoder, Mapping) else None
        if modality not in ENCODER_SCHEMAS:
            raise ConfigError(
                f"encoder.modality: {modality!r} is not one of {', '.join(ENCODER_SCHEMAS)}"
            )
        return ENCODER_SCHEMAS[modality]

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
            lstm_options=encoder["lstm_options"],
            pooling=encoder["pooling"],
            attention_dim=encoder["attention_dim"],
            classifier_dropout=model["classifier_dropout"],
            n_labels=len(self.labels),
            ngram_bag=build_ngram_bag(encoder, artifacts),
        )
        self.register_buffer(
            "logit_offset",
            logit_offset(artifacts, model["logit_adjustment"], len(self.labels)),
            persistent=False,
        )
        # Fitted on each validation epoch (temperature scaling), saved with the weights.
        self.register_buffer("temperature", torch.ones(()))
        self._register_load_state_dict_pre_hook(default_temperature)
        self.validation_logits: list[tuple[Tensor, Tensor]] = []

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

    def export_graphs(self) -> list[ExportGraph]:
        """``model``: symbol ids ``(B, T)`` (text) or waveforms ``(B, S)`` (spoken, log-mels
        computed in the graph) with their ``lengths (B,)`` -> ``logits (B, n_labels)``."""
        generator = torch.Generator().manual_seed(0)
        if self.modality == "text":
            size = len(self.hparams["artifacts"]["vocabulary"]["itos"])
            inputs = torch.randint(2, size, (2, 12), generator=generator)
            lengths, steps, module = torch.tensor([12, 7]), "symbols", self.model
        else:
            from tasks.langid.model.audio_frontend import WaveformLanguageIdentifier

            features = self.hparams["artifacts"]["features"]
            rate = features["sample_rate"]
            inputs = 0.1 * torch.randn(2, rate, generator=generator)
            lengths, steps = torch.tensor([rate, rate * 3 // 4]), "samples"
            module = WaveformLanguageIdentifier(self.model, features).eval()
        name = "ids" if self.modality == "text" else "waves"
        return [
            ExportGraph(
                "model",
                module,
                {name: inputs, "lengths": lengths},
                ["logits"],
                {name: {0: "batch", 1: steps}, "lengths": {0: "batch"}, "logits": {0: "batch"}},
            )
        ]

    def export_manifest(self) -> dict[str, Any]:
        artifacts = self.hparams["artifacts"]
        fields: dict[str, Any] = {"modality": self.modality, "labels": list(self.labels)}
        if self.modality == "text":
            fields.update(
                vocabulary=Vocabulary.from_list(artifacts["vocabulary"]).to_list(),
                unit=artifacts["unit"],
                max_units=artifacts["max_units"],
                padding_id=0,
            )
        else:
            fields["features"] = dict(artifacts["features"])
        return fields

    def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        """Logits ``(B, n_labels)``."""
        return self.model(inputs, lengths)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        logits = self(batch["inputs"], batch["inputs_lengths"])
        loss = F.cross_entropy(
            logits + self.logit_offset,
            batch["label"],
            label_smoothing=self.hparams["model"]["label_smoothing"],
        )
        self.log_metrics("train", {"loss": loss}, batch_size=len(batch["label"]))
        return loss

    def evaluation_step(self, batch: dict[str, Any], stage: str) -> Tensor:
        """Record predictions and log the loss; returns the logits ``(B, n_labels)``."""
        logits = self(batch["inputs"], batch["inputs_lengths"])
        loss = F.cross_entropy(logits, batch["label"])
        columns = {"predicted": logits.argmax(-1).tolist(), "label": batch["label"].tolist()}
        if "n_chars" in batch:
            columns["n_chars"] = batch["n_chars"].tolist()
        self.record(stage, batch, **columns)
        self.log_metrics(stage, {"loss": loss}, batch_size=len(batch["label"]))
        return logits

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self.evaluation_step(batch, "val")
        self.validation_logits.append((logits.detach().float().cpu(), batch["label"].cpu()))

    def on_validation_epoch_end(self) -> None:
        """Fit the temperature on this epoch's validation logits (this rank's share) and log
        it with the expected calibration error before and after scaling."""
        if self.validation_logits:
            logits = torch.cat([z for z, _ in self.validation_logits])
            labels = torch.cat([y for _, y in self.validation_logits])
            self.validation_logits.clear()
            temperature = fit_temperature(logits, labels)
            self.temperature.fill_(temperature)
            calibration = {
                "temperature": temperature,
                "ece_raw": expected_calibration_error(logits.softmax(-1), labels),
                "ece": expected_calibration_error((logits / temperature).softmax(-1), labels),
            }
            for name, value in calibration.items():
                self.log(f"val/{name}", value, on_epoch=True, sync_dist=False)
        super().on_validation_epoch_end()

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

    def gate_view(self, record: Mapping[str, Any]) -> GateView:
        """The BiLSTM's gates on ``record["input"]``: under its characters (each step's
        units; several per step when the front-end's convolution strides) for text, under
        its log-mel spectrogram for speech."""
        verdict = f"predicted {record.get('language')} (p = {record.get('probability', 0):.2f})"
        if self.modality == "text":
            return self._text_gate_view(record["input"], verdict)
        return self._audio_gate_view(record["input"], verdict)

    def _recorded_gates(self, inputs: Tensor) -> list:
        """Gate traces of every BiLSTM layer on one input ``(1, T, ...)``."""
        with record_gates(self.model) as recording:
            self.model(inputs, torch.tensor([inputs.shape[1]], device=self.device))
        return recorded_layers(self.model, recording)

    def _text_gate_view(self, text: str, verdict: str) -> GateView:
        artifacts = self.hparams["artifacts"]
        text = text[: int(self.hparams["model"]["predict"]["max_chars"])]
        units = text_units(text, artifacts["unit"])[: artifacts["max_units"]]
        layers = self._recorded_gates(
            torch.tensor([self.vocabulary.encode(units)], device=self.device)
        )
        steps = layers[0][0].f.shape[0]
        conv = self.model.frontend.conv
        per_step = 1 if conv is None else conv.stride[0]
        labels = ["".join(units[t * per_step : (t + 1) * per_step]) for t in range(steps)]
        title = "input characters" + (f", {per_step} per LSTM step" if per_step > 1 else "")
        return GateView(
            layers=layers,
            draw_input=partial(draw_tokens, tokens=labels, title=title),
            extent=(0.0, float(steps)),
            x_label="input characters (one LSTM step each)",
            title=f'"{text[:60]}": {verdict}',
            step_labels=labels,
            input_height=1.2,
        )

    def _audio_gate_view(self, path: str, verdict: str) -> GateView:
        from tasks.langid.model.audio_frontend import utterance_features

        features = self.hparams["artifacts"]["features"]
        wave, _ = load_audio(path, features["sample_rate"])
        log_mel = utterance_features(wave, features)[None].to(self.device)
        seconds = log_mel.shape[1] * features["hop_length"] / features["sample_rate"]
        return GateView(
            layers=self._recorded_gates(log_mel),
            draw_input=partial(
                draw_spectrogram, features=log_mel[0].float().cpu().numpy(), seconds=seconds
            ),
            extent=(0.0, seconds),
            x_label="time (s)",
            title=f"{Path(path).name}: {verdict}",
        )

    def predict_options(self, options: Mapping[str, Any]) -> DictConfig:
        """The harness's checks, and ``languages`` against this model's labels, so that a
        mistyped language fails once before any input instead of once per input."""
        settings = super().predict_options(options)
        try:
            candidate_mask(self.labels, settings.languages)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        return settings

    def predict_items(self, inputs: list[str], options: Mapping[str, Any]) -> Iterator[dict]:
        """One record per input: ``input``, ``language``, ``probability``, ``top_k`` list and
        a ``notice`` when the text was truncated or is undetermined (``und``)."""
        settings = self.predict_options(options)
        if self.modality == "text":
            predictor = TextPredictor(
                self, self.vocabulary, self.hparams["artifacts"], settings, float(self.temperature)
            )
        else:
            from tasks.langid.predict.audio import AudioPredictor

            predictor = AudioPredictor(self, self.hparams["artifacts"], settings)
        yield from predictor.predict(inputs)
