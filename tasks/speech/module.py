"""LightningModule of the speech recogniser: CTC training, CER/WER evaluation, transcription.

Config (``cfg.model``, see ``conf/task/speech.yaml``)::

    encoder:       ${encoder}                 conf/encoder/speech/<name>.yaml
    spec_augment:  {...}                      tasks.audio.features.SpecAugment options
    decoding:      {beam_size, lm_order, lm_weight, word_bonus, ...}
    predict:       {streaming, chunk_seconds, min_seconds}

Schemas: :mod:`tasks.speech.config`.

Artifacts (from :class:`tasks.speech.data.datamodule.SpeechDataModule`): ``vocabulary``
(``Vocabulary.to_list()``, blank first), ``cmvn`` ``{mean, std}`` ``(F,)``, ``sample_rate``,
``features`` (the ``LogMel`` options of the data) and, for the n-gram LMs, the training
``transcripts`` and ``lm_text`` (``SpeechDataModule.lm_text_sentences``: further text).

The loss is CTC over the character vocabulary (blank = 0)::

    L = -log P(y | x) / |y|     averaged over the batch   (torch ``ctc_loss``, reduction mean)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import fields
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics.functional.text import char_error_rate, word_error_rate

from lstmkit import record_gates
from tasks.audio.io import AudioDecodeError, load_audio
from tasks.batching import pad_sequences
from tasks.harness.eval_records import Record
from tasks.harness.export import ExportGraph
from tasks.harness.gate_plots import GateView, draw_spectrogram, recorded_layers
from tasks.harness.module import TaskModule
from tasks.harness.predict import error_record
from tasks.speech.config import (
    SearchConfig,
    SpeechEncoderConfig,
    SpeechModelConfig,
    SpeechPredictOptions,
)
from tasks.speech.decoding.alignment import ctc_forced_align, word_timings
from tasks.speech.decoding.ctc import (
    CTCPrefixBeamSearch,
    decode_batch,
    greedy_decode,
    labels_to_text,
)
from tasks.speech.decoding.ngram_lm import NgramLM
from tasks.speech.model import SpeechRecognizer
from tasks.speech.streaming import stream_log_probs
from tasks.text.vocabulary import Vocabulary

log = logging.getLogger(__name__)

GREEDY = "greedy"
"""Record column of the best-path hypothesis in test: ``test/greedy_cer``, ``test/greedy_wer``;
``test/cer`` and ``test/wer`` score the configured decoder (column ``hyp``)."""
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au")


class SpeechModule(TaskModule):
    """Character CTC speech recogniser (see :class:`tasks.speech.model.SpeechRecognizer`).

    Submodules: ``recognizer.frontend``, ``recognizer.subsampling``, ``recognizer.encoder``,
    ``recognizer.head`` (e.g. ``freeze=[recognizer.encoder]``).
    """

    input_kind: ClassVar[str] = "file"
    input_extensions: ClassVar[tuple[str, ...]] = AUDIO_EXTENSIONS
    model_schema: ClassVar[type] = SpeechModelConfig
    predict_schema: ClassVar[type] = SpeechPredictOptions

    @classmethod
    def encoder_schema(cls, encoder: Mapping[str, Any]) -> type:
        return SpeechEncoderConfig

    def __init__(
        self, model: Mapping[str, Any], optim: Mapping[str, Any], artifacts: Mapping[str, Any]
    ) -> None:
        super().__init__(model, optim, artifacts)
        self.vocab = Vocabulary.from_list(artifacts["vocabulary"])
        self.tokens = list(self.vocab.itos)
        self.sample_rate = int(artifacts["sample_rate"])
        encoder = {k: v for k, v in model["encoder"].items() if k != "name"}
        cmvn = artifacts["cmvn"]
        self.recognizer = SpeechRecognizer(
            len(self.tokens),
            torch.as_tensor(cmvn["mean"], dtype=torch.float32),
            torch.as_tensor(cmvn["std"], dtype=torch.float32),
            features={
                "log_mel": dict(artifacts["features"]),
                "spec_augment": dict(model["spec_augment"]),
            },
            **encoder,
        )
        self.decoding = dict(model["decoding"])
        self.lm: NgramLM | None = None
        self.char_lm: NgramLM | None = None
        self.build_language_models()
        self.examples: list[tuple[str, str]] = []

    def setup(self, stage: str) -> None:
        """Fit: take the LMs' text (the training transcripts and the data's ``lm_text``) from
        the datamodule when the artifacts lack it, and keep it in the hyperparameters so
        checkpoints rebuild the same LMs."""
        wanted = self.decoding["lm_order"] > 0 or self.decoding["char_lm_order"] > 0
        artifacts = self.hparams["artifacts"]
        if stage != "fit" or not wanted or artifacts.get("transcripts"):
            return
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is None or not hasattr(datamodule, "metadata"):
            log.warning("no training transcripts for the language models: decoding without them")
            return
        artifacts["transcripts"] = [row["transcript"] for row in datamodule.metadata("train")]
        if hasattr(datamodule, "lm_text_sentences"):
            artifacts["lm_text"] = datamodule.lm_text_sentences()
        self.build_language_models()

    def build_language_models(self) -> None:
        """(Re)build ``self.lm`` and ``self.char_lm``, the word and character LMs of
        ``self.decoding`` over the artifacts' training ``transcripts`` and ``lm_text`` (each
        None when its order is 0 or there are no transcripts)."""
        artifacts = self.hparams["artifacts"]
        if not artifacts.get("transcripts"):
            self.lm = self.char_lm = None
            return
        transcripts = [*artifacts["transcripts"], *artifacts.get("lm_text", [])]
        smoothing = (float(self.decoding["lm_add_k"]), float(self.decoding["lm_prior"]))
        word_order = int(self.decoding["lm_order"])
        char_order = int(self.decoding["char_lm_order"])
        self.lm = (
            NgramLM.from_sentences(transcripts, word_order, *smoothing) if word_order else None
        )
        self.char_lm = (
            NgramLM.from_characters(transcripts, char_order, *smoothing) if char_order else None
        )

    def beam_search(self, options: Mapping[str, Any] | None = None) -> CTCPrefixBeamSearch | None:
        """The configured decoder (``options``, :class:`tasks.speech.config.SearchConfig`
        fields, override ``model.decoding``); None = greedy."""
        cfg = {**self.decoding, **(options or {})}
        beam = int(cfg["beam_size"])
        use_lm = self.lm is not None and float(cfg["lm_weight"]) > 0
        use_char_lm = self.char_lm is not None and float(cfg["char_lm_weight"]) > 0
        if beam <= 1 and not (use_lm or use_char_lm):
            return None
        return CTCPrefixBeamSearch(
            self.tokens,
            beam_size=max(beam, 1),
            lm=self.lm if use_lm else None,
            lm_weight=float(cfg["lm_weight"]),
            word_bonus=float(cfg["word_bonus"]),
            token_prune=float(cfg["token_prune"]),
            char_lm=self.char_lm if use_char_lm else None,
            char_lm_weight=float(cfg["char_lm_weight"]),
        )

    def predict_defaults(self) -> dict[str, Any]:
        """``model.predict`` and the search settings of ``model.decoding``."""
        search = {f.name: self.decoding[f.name] for f in fields(SearchConfig)}
        return {**search, **self.hparams["model"]["predict"]}

    def output_vocabularies(self) -> dict[str, list[str]]:
        return {"recognizer.head.": self.tokens}

    def export_graphs(self) -> list[ExportGraph]:
        """``model``: waveforms ``(B, S)`` and ``lengths (B,)`` in samples -> CTC log-probs
        ``(B, T', V)`` and ``frame_lengths (B,)``: front-end, encoder and head in one graph;
        decoding (:meth:`transcript_record`) stays with the caller."""
        generator = torch.Generator().manual_seed(0)
        waves = 0.1 * torch.randn(2, self.sample_rate, generator=generator)
        lengths = torch.tensor([self.sample_rate, self.sample_rate * 3 // 4])
        batch = {0: "batch"}
        return [
            ExportGraph(
                "model",
                self.recognizer,
                {"waves": waves, "lengths": lengths},
                ["log_probs", "frame_lengths"],
                {
                    "waves": {0: "batch", 1: "samples"},
                    "lengths": batch,
                    "log_probs": {0: "batch", 1: "frames"},
                    "frame_lengths": batch,
                },
            )
        ]

    def export_manifest(self) -> dict[str, Any]:
        return {
            "vocabulary": self.tokens,
            "blank": 0,
            "sample_rate": self.sample_rate,
            "features": dict(self.hparams["artifacts"]["features"]),
            "frame_seconds": self.recognizer.output_frame_seconds,
            "decoding": dict(self.decoding),
        }

    def forward(self, batch: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
        """A batch of log-mel ``features (B, T, F)`` or ``waveforms (B, S)`` with their
        ``*_lengths (B,)`` -> log-probs ``(B, T', V)``, ``lengths' (B,)``."""
        if "features" in batch:
            frontend = self.recognizer.frontend
            lengths = batch["features_lengths"]
            feats = frontend.normalize(batch["features"], lengths)
            log_probs, out_lengths, _ = self.recognizer.from_features(feats, lengths)
            return log_probs, out_lengths
        return self.recognizer(batch["waveforms"], batch["waveforms_lengths"])

    def _loss(self, batch: Mapping[str, Any]) -> tuple[Tensor, Tensor, Tensor]:
        log_probs, out_lengths = self(batch)
        loss = F.ctc_loss(
            log_probs.transpose(0, 1),
            batch["targets"],
            out_lengths,
            batch["targets_lengths"],
            blank=0,
            reduction="mean",
            zero_infinity=True,
        )
        return loss, log_probs, out_lengths

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> Tensor:
        loss, _, _ = self._loss(batch)
        self.log_metrics("train", {"loss": loss}, batch_size=len(batch["targets_lengths"]))
        return loss

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        self._evaluate(batch, "val", self.beam_search() if self.decoding["val_beam"] else None)

    def test_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        self._evaluate(batch, "test", self.beam_search(), greedy_too=True)

    def _evaluate(
        self,
        batch: Mapping[str, Any],
        stage: str,
        search: CTCPrefixBeamSearch | None,
        greedy_too: bool = False,
    ) -> None:
        """Log the loss and record ``hyp`` (decoded with ``search``; greedy when None),
        ``ref`` and, with ``greedy_too``, the best-path ``greedy`` hypothesis per utterance."""
        loss, log_probs, out_lengths = self._loss(batch)
        self.log_metrics(stage, {"loss": loss}, batch_size=len(batch["targets_lengths"]))
        columns = {"hyp": self._decode(log_probs, out_lengths, search)}
        if greedy_too:
            columns[GREEDY] = self._decode(log_probs, out_lengths, None)
        refs = list(batch["transcripts"])
        self.record(stage, batch, ref=refs, **columns)
        wanted = int(self.decoding["examples"]) - len(self.examples)
        self.examples += list(zip(columns["hyp"], refs, strict=True))[: max(wanted, 0)]

    def _decode(
        self, log_probs: Tensor, lengths: Tensor, search: CTCPrefixBeamSearch | None
    ) -> list[str]:
        return [
            labels_to_text(ids, self.tokens) for ids in decode_batch(log_probs, lengths, search)
        ]

    def evaluation_metrics(self, stage: str, records: list[Record]) -> dict[str, float]:
        """Corpus CER and WER: all edit operations over all reference characters/words,
        ``CER = (S + D + I) / N`` over the whole split (not a mean of per-batch rates)."""
        refs = [r["ref"] for r in records]
        metrics = {}
        for prefix, column in (("", "hyp"), ("greedy_", GREEDY)):
            if column in records[0]:
                hyps = [r[column] for r in records]
                metrics[f"{prefix}cer"] = float(char_error_rate(hyps, refs))
                metrics[f"{prefix}wer"] = float(word_error_rate(hyps, refs))
        return metrics

    def on_validation_epoch_start(self) -> None:
        self.examples = []

    on_test_epoch_start = on_validation_epoch_start

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self._show_examples("val")

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        self._show_examples("test")

    def _show_examples(self, stage: str) -> None:
        if self.trainer.is_global_zero and self.examples:
            lines = "\n".join(f"  REF: {r}\n  HYP: {h}" for h, r in self.examples)
            log.info("%s examples (epoch %d):\n%s", stage, self.current_epoch, lines)

    def predict_items(self, inputs: list[str], options: Mapping[str, Any]) -> Iterator[dict]:
        """Transcribe audio files: ``{input, text, words: [{word, start, end}], score,
        duration}``; ``score`` is the decoder's log-score (CTC log-prob + LM terms). A file
        that cannot be used gives an error record (:func:`tasks.harness.predict.error_record`).

        The readable files run as one padded batch through the encoder (``lengths=`` keeps
        each one's result its own). Options (:class:`tasks.speech.config.SpeechPredictOptions`):
        the search's ``beam_size``, ``token_prune``, ``lm_weight``, ``word_bonus``,
        ``char_lm_weight`` (over ``model.decoding``), ``streaming`` (feed ``chunk_seconds``
        pieces through the carried encoder state, one file at a time) and ``min_seconds``
        (shorter files give error records), over ``model.predict``.
        """
        options = self.predict_options(options)
        search = self.beam_search(options)
        records: list[dict | None] = [None] * len(inputs)
        waves: dict[int, Tensor] = {}
        for i, path in enumerate(inputs):
            try:
                wave, _ = load_audio(path, self.sample_rate, float(options["min_seconds"]))
                waves[i] = wave
            except AudioDecodeError as error:
                records[i] = error_record(path, error)
        if options["streaming"]:
            log_probs = [
                self.transcribe_log_probs(waves[i].to(self.device), options) for i in waves
            ]
        else:
            log_probs = self.batch_log_probs(list(waves.values())) if waves else []
        for (i, wave), frames in zip(waves.items(), log_probs, strict=True):
            duration = wave.numel() / self.sample_rate
            records[i] = self.transcript_record(inputs[i], frames, search, duration)
        yield from records  # type: ignore[misc]

    def batch_log_probs(self, waves: list[Tensor]) -> list[Tensor]:
        """Waveforms ``(S_b,)`` -> CTC log-probs ``(T'_b, V)`` each, in one padded batch.

        Log-mels are computed per waveform (so each is framed at its own end, exactly as
        alone), then padded, normalised and encoded with their lengths.
        """
        log_mel = self.recognizer.frontend.log_mel
        feats = [log_mel(wave[None].to(self.device))[0][0] for wave in waves]
        padded, lengths = pad_sequences(feats, 0.0)
        lengths = lengths.to(self.device)
        log_probs, out_lengths = self({"features": padded, "features_lengths": lengths})
        return [frames[:n] for frames, n in zip(log_probs, out_lengths.tolist(), strict=True)]

    def gate_view(self, record: Mapping[str, Any]) -> GateView:
        """The encoder's gates on the whole utterance ``record["input"]``, under its log-mel
        spectrogram marked with the record's CTC word timings. Layer ``k``'s steps span the
        utterance evenly (its frame rate after subsampling and any pyramid reduction)."""
        wave, _ = load_audio(record["input"], self.sample_rate)
        wave = wave.to(self.device)
        features, frames = self.recognizer.frontend(
            wave[None], torch.tensor([wave.numel()], device=self.device)
        )
        with record_gates(self.recognizer.encoder) as recording:
            self.recognizer.from_features(features, frames)
        seconds = wave.numel() / self.sample_rate
        return GateView(
            layers=recorded_layers(self.recognizer.encoder, recording),
            draw_input=partial(
                draw_spectrogram,
                features=features[0].float().cpu().numpy(),
                seconds=seconds,
                words=record.get("words", []),
            ),
            extent=(0.0, seconds),
            x_label="time (s)",
            title=f'{Path(record["input"]).name}: "{record.get("text", "")}"',
        )

    def transcribe_log_probs(self, wave: Tensor, options: Mapping[str, Any]) -> Tensor:
        """``wave (S,)`` -> CTC log-probs ``(T', V)``, whole-utterance or streamed
        (``options``: :meth:`predict_options`)."""
        if options["streaming"]:
            chunk = round(float(options["chunk_seconds"]) * self.sample_rate)
            return stream_log_probs(self.recognizer, wave, chunk)
        log_probs, _ = self.recognizer(wave[None], torch.tensor([wave.numel()], device=wave.device))
        return log_probs[0]

    def transcript_record(
        self,
        path: str,
        log_probs: Tensor,
        search: CTCPrefixBeamSearch | None,
        duration: float,
    ) -> dict[str, Any]:
        """Decode one utterance's log-probs ``(T', V)`` (from this model or its export) into
        the predict record: text, word timings, score, duration."""
        log_probs = log_probs.float().cpu()
        if search is None:
            labels = greedy_decode(log_probs[None], torch.tensor([len(log_probs)]))[0]
            path_labels = log_probs.argmax(-1).tolist()
            score = float(log_probs.max(-1).values.sum())
        else:
            best = search(log_probs)[0]
            labels, score = list(best.labels), best.score
            path_labels = ctc_forced_align(log_probs, labels)
        words = word_timings(path_labels, self.tokens, self.recognizer.output_frame_seconds)
        return {
            "input": str(path),
            "text": labels_to_text(labels, self.tokens),
            "words": [
                {"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3)} for w in words
            ],
            "score": round(score, 4),
            "duration": round(duration, 3),
        }
