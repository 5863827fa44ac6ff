"""TaskModule of the captioning task: training, BLEU/CIDEr-D evaluation, predict."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import fields
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import torch

from lstmkit import record_gates
from tasks.captioning.attention_maps import save_attention_figure
from tasks.captioning.config import (
    CaptioningModelConfig,
    CaptioningPredictOptions,
    DecodingConfig,
    SmallCNNEncoderConfig,
    TorchvisionEncoderConfig,
)
from tasks.captioning.data.images import image_to_tensor, load_image
from tasks.captioning.metrics import caption_scores
from tasks.captioning.model.captioner import Captioner
from tasks.captioning.step_graphs import DecoderStepGraph, EncoderGraph
from tasks.captioning.tokenization import BOS, EOS, PAD, decode_caption, tokenize
from tasks.harness.eval_records import Record
from tasks.harness.export import ExportGraph
from tasks.harness.gate_plots import GateView, draw_tokens, recorded_layers
from tasks.harness.module import TaskModule
from tasks.text.vocabulary import Vocabulary


class CaptioningModule(TaskModule):
    """Image captioning with a CNN encoder and lstmkit's attention-LSTM decoder.

    Args:
        model: ``encoder`` and ``decoder`` keyword dicts (see :class:`Captioner`),
            ``attention_regularizer`` (lambda of the doubly stochastic penalty),
            ``scheduled_sampling`` (``max_probability``, ``ramp_epochs``) and ``decoding``
            (``beam_size``, ``max_len``, ``length_penalty``, ``no_repeat_ngram_size``: used by
            test and predict; validation decodes greedily, which is faster) and ``predict``
            (``attention_maps``, ``attention_dir``); schemas in :mod:`tasks.captioning.config`.
        optim: the harness optimizer/schedule config.
        artifacts: ``vocabulary`` (``Vocabulary.to_list()``) and ``image_size``.
    """

    input_kind = "file"
    input_extensions = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
    model_schema: ClassVar[type] = CaptioningModelConfig
    predict_schema: ClassVar[type] = CaptioningPredictOptions

    @classmethod
    def encoder_schema(cls, encoder: Mapping[str, Any]) -> type:
        """The small CNN's schema (with ``channels``) or a torchvision network's."""
        small = isinstance(encoder, Mapping) and encoder.get("name") == "small_cnn"
        return SmallCNNEncoderConfig if small else TorchvisionEncoderConfig

    def __init__(
        self, model: Mapping[str, Any], optim: Mapping[str, Any], artifacts: Mapping[str, Any]
    ) -> None:
        super().__init__(model, optim, artifacts)
        self.vocab = Vocabulary.from_list(artifacts["vocabulary"])
        self.image_size = int(artifacts["image_size"])
        self.decoding = dict(model["decoding"])
        self.attention_regularizer = float(model["attention_regularizer"])
        self.scheduled_sampling = dict(model["scheduled_sampling"])
        self.captioner = Captioner(len(self.vocab), model["encoder"], model["decoder"])
        self.grid = self.captioner.grid_shape(self.image_size)
        self._skipped = 0

    def predict_defaults(self) -> dict[str, Any]:
        """``model.predict`` and ``model.decoding``."""
        return {**self.decoding, **self.hparams["model"]["predict"]}

    def output_vocabularies(self) -> dict[str, list[str]]:
        return {
            "captioner.decoder.output.": list(self.vocab.itos),
            "captioner.decoder.embedding.": list(self.vocab.itos),
        }

    def export_graphs(self) -> list[ExportGraph]:
        """``encoder`` (images -> memory, keys, initial state) and ``decoder_step`` (one
        attention-LSTM step) for a search loop of the caller's (:mod:`step_graphs`)."""
        generator = torch.Generator().manual_seed(0)
        images = torch.rand(2, 3, self.image_size, self.image_size, generator=generator)
        encoder = EncoderGraph(self.captioner).eval()
        with torch.no_grad():
            memory, keys, h, c = encoder(images)
        batch = {0: "batch"}
        step_inputs = {"tokens": torch.tensor([BOS, BOS]), "h": h, "c": c, "memory": memory}
        step_inputs["keys"] = keys
        step_outputs = ["log_probs", "h_next", "c_next", "attention"]
        return [
            ExportGraph(
                "encoder",
                encoder,
                {"images": images},
                ["memory", "keys", "h0", "c0"],
                dict.fromkeys(["images", "memory", "keys", "h0", "c0"], batch),
            ),
            ExportGraph(
                "decoder_step",
                DecoderStepGraph(self.captioner).eval(),
                step_inputs,
                step_outputs,
                dict.fromkeys([*step_inputs, *step_outputs], batch),
            ),
        ]

    def export_manifest(self) -> dict[str, Any]:
        return {
            "vocabulary": list(self.vocab.itos),
            "bos": BOS,
            "eos": EOS,
            "pad": PAD,
            "image_size": self.image_size,
            "pixels": "RGB in [0, 1], resized to image_size x image_size (ImageNet "
            "normalisation is inside the encoder graph)",
            "attention_grid": list(self.grid),
            "decoding": dict(self.decoding),
        }

    # ----------------------------------------------------------------- training
    def sampling_probability(self) -> float:
        """Scheduled sampling rate, ramped linearly to ``max_probability`` over ``ramp_epochs``."""
        top = float(self.scheduled_sampling["max_probability"])
        ramp = max(int(self.scheduled_sampling["ramp_epochs"]), 1)
        return top * min(1.0, self.current_epoch / ramp)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        if batch["skipped"]:
            self._skipped += batch["skipped"]
            self.log("train/skipped_images", float(self._skipped), reduce_fx="max")
        size = len(batch["names"])
        if size == 0:
            return None
        total, ce = self.captioner.loss(
            batch["images"],
            batch["tokens"],
            self.attention_regularizer,
            self.sampling_probability(),
        )
        self.log_metrics("train", {"loss": total, "ce": ce}, batch_size=size)
        return total

    # ----------------------------------------------------------------- evaluation
    def _decode_batch(self, batch: dict[str, Any], stage: str, beam: bool) -> None:
        """Record per image its split, name, references and greedy (and beam) caption."""
        if not batch["names"]:
            return
        greedy = self.captioner.caption(batch["images"], **{**self.decoding, "search": "greedy"})
        columns: dict[str, Sequence[Any]] = {
            "split": list(batch["splits"]),
            "name": list(batch["names"]),
            "refs": list(batch["references"]),
            "greedy": [decode_caption(self.vocab, g.tokens) for g in greedy],
        }
        if beam:
            beams = self.captioner.caption(batch["images"], **self.decoding)
            columns["beam"] = [decode_caption(self.vocab, b.tokens) for b in beams]
        self.record(stage, batch, **columns)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        size = len(batch["names"])
        if size == 0:
            return
        _, ce = self.captioner.loss(batch["images"], batch["tokens"], self.attention_regularizer)
        self.log_metrics("val", {"loss": ce}, batch_size=size)
        self._decode_batch(batch, "val", beam=False)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._decode_batch(batch, "test", beam=True)

    def evaluation_metrics(self, stage: str, records: list[Record]) -> dict[str, float]:
        """BLEU-1..4 and CIDEr-D (:func:`caption_scores`) over all images of a split.

        Validation scores the greedy captions (``val/<m>``); test scores the beam captions
        (``test/<m>``) and the greedy ones (``test/greedy_<m>``), and the ``test_novel`` split
        as ``test/novel_<m>``, ``test/novel_greedy_<m>``."""
        if stage == "val":
            return caption_scores(*self._split_captions(records, "greedy"))
        metrics: dict[str, float] = {}
        for split, rows in sorted(self._by_split(records).items()):
            prefix = "" if split == "test" else split.removeprefix("test_") + "_"
            for kind, infix in (("beam", ""), ("greedy", "greedy_")):
                scores = caption_scores(*self._split_captions(rows, kind))
                metrics.update({f"{prefix}{infix}{k}": v for k, v in scores.items()})
        return metrics

    @staticmethod
    def _by_split(records: list[Record]) -> dict[str, list[Record]]:
        splits: dict[str, list[Record]] = defaultdict(list)
        for record in records:
            splits[record["split"]].append(record)
        return splits

    @staticmethod
    def _split_captions(
        records: list[Record], kind: str
    ) -> tuple[dict[str, str], dict[str, list[str]]]:
        """``({name: caption}, {name: references})`` of ``records`` for ``caption_scores``."""
        captions = {r["name"]: r[kind] for r in records}
        return captions, {r["name"]: r["refs"] for r in records}

    def on_test_epoch_end(self) -> None:
        records = self.finish_evaluation("test")
        if self.trainer.is_global_zero:
            for split, rows in sorted(self._by_split(records).items()):
                self._write_examples(split, rows)

    def _write_examples(self, split: str, records: list[Record], count: int = 50) -> None:
        """First ``count`` test captions (beam, greedy, references) as JSONL in the run dir."""
        with open(self.run_dir / f"examples_{split}.jsonl", "w") as out:
            for r in records[:count]:
                record = {"image": r["name"], "beam": r["beam"], "greedy": r["greedy"]}
                out.write(json.dumps({**record, "references": r["refs"]}) + "\n")

    # ----------------------------------------------------------------- predict
    def gate_view(self, record: Mapping[str, Any]) -> GateView:
        """The decoder cell's gates while it emits ``record["caption"]`` (and ``<eos>``) for
        the image ``record["input"]``: the caption is fed back word by word, so step ``t``
        is the step that emitted word ``t`` (the step the attention map shows for it)."""
        image = image_to_tensor(load_image(record["input"]), self.image_size)
        words = tokenize(record["caption"])
        targets = torch.tensor([[*self.vocab.encode(words), EOS]], device=self.device)
        memory = self.captioner.encoder(image[None].to(self.device))
        with record_gates(self.captioner.decoder) as recording:
            self.captioner.decoder(memory, None, targets, bos=BOS)
        labels = [*words, "<eos>"]
        return GateView(
            layers=recorded_layers(self.captioner.decoder, recording),
            draw_input=partial(draw_tokens, tokens=labels, title="generated words"),
            extent=(0.0, float(len(labels))),
            x_label="generated word (one decoder step each)",
            title=f'{Path(record["input"]).name}: "{record["caption"]}"',
            step_labels=labels,
            input_height=1.2,
        )

    def predict_items(self, inputs: list[str], options: Mapping[str, Any]) -> Iterator[dict]:
        """Caption image files.

        Options (:class:`tasks.captioning.config.CaptioningPredictOptions`): ``search``
        (``beam``/``greedy``), ``beam_size``, ``max_len``, ``length_penalty``,
        ``no_repeat_ngram_size`` (over ``model.decoding``), ``attention_maps`` and
        ``attention_dir``, where one PNG per image is written (over ``model.predict``).

        Yields:
            ``{"input", "caption", "score"}`` (+ ``"attention_map"``) per image; ``score`` is the
            caption's log-probability. An unreadable image raises ``ValueError`` naming it.
        """
        options = self.predict_options(options)
        decoding = {f.name: options[f.name] for f in fields(DecodingConfig)}
        images = [load_image(path) for path in inputs]
        batch = torch.stack([image_to_tensor(img, self.image_size) for img in images])
        captions = self.captioner.caption(batch.to(self.device), **decoding)
        map_dir = Path(options["attention_dir"])
        for path, image, cap in zip(inputs, images, captions, strict=True):
            words = self.vocab.decode(cap.tokens)
            record: dict[str, Any] = {
                "input": path,
                "caption": " ".join(words),
                "score": round(cap.score, 4),
            }
            if options["attention_maps"] and words and cap.attention is not None:
                png = map_dir / f"{Path(path).stem}.png"
                save_attention_figure(image, words, cap.attention, self.grid, png)
                record["attention_map"] = str(png)
            yield record
