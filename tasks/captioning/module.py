"""LightningModule of the captioning task: training, BLEU/CIDEr-D evaluation, predict."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from tasks.captioning.attention_maps import save_attention_figure
from tasks.captioning.images import ImageLoadError, image_to_tensor, load_image
from tasks.captioning.metrics import caption_scores
from tasks.captioning.model import Captioner
from tasks.captioning.tokenization import decode_caption
from tasks.text.vocabulary import Vocabulary

DEFAULT_DECODING: dict[str, Any] = {
    "beam_size": 3,
    "max_len": 24,
    "length_penalty": 0.0,
    "no_repeat_ngram_size": 0,
}
DEFAULT_OPTIM: dict[str, Any] = {
    "lr": 3e-3,
    "encoder_lr": None,
    "weight_decay": 1e-4,
    "warmup_fraction": 0.05,
    "scheduler": "onecycle",
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class CaptioningModule(pl.LightningModule):
    """Image captioning with a CNN encoder and lstmkit's attention-LSTM decoder.

    Args:
        model: ``{"encoder": {...}, "decoder": {...}, "attention_regularizer": lambda,
            "scheduled_sampling": {"max_probability", "ramp_epochs"}}``.
        optim: ``lr``, ``encoder_lr`` (None: same as ``lr``), ``weight_decay``,
            ``warmup_fraction``, ``scheduler`` (``onecycle`` or ``constant``).
        artifacts: from the datamodule: ``vocabulary`` (``Vocabulary.to_list()``) and ``image_size``.
        decoding: ``beam_size``, ``max_len``, ``length_penalty``, ``no_repeat_ngram_size`` used
            by test and predict (validation decodes greedily, which is faster).
    """

    def __init__(
        self,
        model: Mapping[str, Any],
        optim: Mapping[str, Any] | None = None,
        artifacts: Mapping[str, Any] | None = None,
        decoding: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if artifacts is None or "vocabulary" not in artifacts:
            raise ValueError(
                "CaptioningModule needs artifacts={'vocabulary': ..., 'image_size': ...}"
            )
        self.save_hyperparameters()
        self.vocab = Vocabulary.from_list(artifacts["vocabulary"])
        self.image_size = int(artifacts["image_size"])
        self.optim = {**DEFAULT_OPTIM, **(optim or {})}
        self.decoding = {**DEFAULT_DECODING, **(decoding or {})}
        self.attention_regularizer = float(model.get("attention_regularizer", 1.0))
        self.scheduled_sampling = dict(model.get("scheduled_sampling") or {})
        self.captioner = Captioner(len(self.vocab), model["encoder"], model["decoder"])
        self.grid = self.captioner.grid_shape(self.image_size)
        self._outputs: dict[str, dict[str, Any]] = defaultdict(
            lambda: {"hyp": {}, "greedy": {}, "refs": {}}
        )
        self._skipped = 0

    # ----------------------------------------------------------------- contract hooks
    def output_vocabularies(self) -> dict[str, list[str]]:
        """Output layers and the tokens their rows follow (for fine-tuning to a new vocabulary)."""
        return {
            "captioner.decoder.output.": list(self.vocab.itos),
            "captioner.decoder.embedding.": list(self.vocab.itos),
        }

    # ----------------------------------------------------------------- training
    def sampling_probability(self) -> float:
        """Scheduled sampling rate, ramped linearly to ``max_probability`` over ``ramp_epochs``."""
        top = float(self.scheduled_sampling.get("max_probability", 0.0))
        ramp = max(int(self.scheduled_sampling.get("ramp_epochs", 1)), 1)
        return top * min(1.0, self.current_epoch / ramp)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        self._skipped += batch["skipped"]
        if batch["skipped"]:
            self.log("train/skipped_images", float(self._skipped), reduce_fx="max")
        if batch["images"].shape[0] == 0:
            return None
        total, ce = self.captioner.loss(
            batch["images"],
            batch["tokens"],
            self.attention_regularizer,
            self.sampling_probability(),
        )
        self.log("train/loss", total, prog_bar=True, batch_size=len(batch["names"]))
        self.log("train/ce", ce, batch_size=len(batch["names"]))
        return total

    def configure_optimizers(self) -> Any:
        encoder_lr = self.optim["encoder_lr"] or self.optim["lr"]
        groups = [
            {
                "params": [p for p in self.captioner.encoder.parameters() if p.requires_grad],
                "lr": encoder_lr,
            },
            {
                "params": [p for p in self.captioner.decoder.parameters() if p.requires_grad],
                "lr": self.optim["lr"],
            },
        ]
        groups = [g for g in groups if g["params"]]
        optimizer = torch.optim.AdamW(groups, weight_decay=self.optim["weight_decay"])
        if self.optim["scheduler"] == "constant":
            return optimizer
        if self.optim["scheduler"] != "onecycle":
            raise ValueError(
                f"optim.scheduler must be 'onecycle' or 'constant', got {self.optim['scheduler']!r}"
            )
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=[g["lr"] for g in groups],
            total_steps=max(int(self.trainer.estimated_stepping_batches), 1),
            pct_start=self.optim["warmup_fraction"],
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    # ----------------------------------------------------------------- evaluation
    def _decode_batch(self, batch: dict[str, Any], split: str, beam: bool) -> None:
        if batch["images"].shape[0] == 0:
            return
        store = self._outputs[split]
        greedy = self.captioner.caption(
            batch["images"], beam_size=1, max_len=self.decoding["max_len"]
        )
        for name, refs, cap in zip(batch["names"], batch["references"], greedy, strict=True):
            store["refs"][name] = refs
            store["greedy"][name] = decode_caption(self.vocab, cap.tokens)
        if beam:
            for name, cap in zip(
                batch["names"],
                self.captioner.caption(batch["images"], **self.decoding),
                strict=True,
            ):
                store["hyp"][name] = decode_caption(self.vocab, cap.tokens)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        _total, ce = self.captioner.loss(
            batch["images"], batch["tokens"], self.attention_regularizer
        )
        self.log("val/loss", ce, batch_size=len(batch["names"]))
        self._decode_batch(batch, "val", beam=False)

    def on_validation_epoch_end(self) -> None:
        store = self._outputs.pop("val", None)
        if not store or not store["refs"]:
            return
        scores = caption_scores(store["greedy"], store["refs"])
        for key, value in scores.items():
            self.log(f"val/{key}", value, prog_bar=key in ("bleu4", "cider_d"))

    def test_split_names(self) -> list[str]:
        datamodule = getattr(self.trainer, "datamodule", None)
        names = datamodule.test_split_names() if datamodule is not None else ["test"]
        return names

    def test_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._decode_batch(batch, self.test_split_names()[dataloader_idx], beam=True)

    def on_test_epoch_end(self) -> None:
        for split in self.test_split_names():
            store = self._outputs.pop(split, None)
            if not store or not store["refs"]:
                continue
            prefix = "test/" if split == "test" else f"test/{split.removeprefix('test_')}_"
            for key, value in caption_scores(store["hyp"], store["refs"]).items():
                self.log(f"{prefix}{key}", value, add_dataloader_idx=False)
            for key, value in caption_scores(store["greedy"], store["refs"]).items():
                self.log(f"{prefix}greedy_{key}", value, add_dataloader_idx=False)
            self._write_examples(split, store)

    def _write_examples(self, split: str, store: dict[str, Any], count: int = 50) -> None:
        run_dir = self.run_dir()
        if run_dir is None:
            return
        with open(run_dir / f"examples_{split}.jsonl", "w") as out:
            for name in list(store["refs"])[:count]:
                record = {
                    "image": name,
                    "beam": store["hyp"][name],
                    "greedy": store["greedy"][name],
                }
                out.write(json.dumps({**record, "references": store["refs"][name]}) + "\n")

    def run_dir(self) -> Path | None:
        """Where plots and examples go: the harness's run dir, else the logger's directory."""
        explicit = getattr(self, "_run_dir", None)
        if explicit:
            return Path(explicit)
        trainer = self._trainer
        if trainer is None or trainer.log_dir is None:
            return None
        return Path(trainer.log_dir)

    # ----------------------------------------------------------------- predict
    def predict_items(
        self, inputs: Sequence[str], options: Mapping[str, Any] | None = None
    ) -> Iterator[dict]:
        """Caption image files (folders expand to their images, sorted).

        Options: the ``decoding`` keys, ``batch_size`` (16), ``attention_maps`` (False) and
        ``attention_dir`` (where PNGs go; default ``attention_maps/`` in the run dir or cwd).

        Yields:
            ``{"input", "caption", "score", "attention_map"?}`` per image, or
            ``{"input", "error"}`` for an unreadable one.
        """
        options = dict(options or {})
        decoding = {k: type(v)(options.get(k, v)) for k, v in self.decoding.items()}
        batch_size = int(options.get("batch_size", 16))
        want_maps = bool(options.get("attention_maps", False))
        map_dir = Path(
            options.get("attention_dir") or (self.run_dir() or Path.cwd()) / "attention_maps"
        )
        self.eval()
        paths = expand_image_inputs(inputs)
        for start in range(0, len(paths), batch_size):
            chunk = paths[start : start + batch_size]
            loaded, records = [], {}
            for path in chunk:
                try:
                    loaded.append((path, load_image(path)))
                except ImageLoadError as err:
                    records[path] = {"input": path, "error": str(err)}
            if loaded:
                images = torch.stack(
                    [image_to_tensor(img, self.image_size) for _, img in loaded]
                ).to(self.device)
                captions = self.captioner.caption(images, **decoding)
                for (path, image), cap in zip(loaded, captions, strict=True):
                    words = self.vocab.decode(cap.tokens)
                    record = {
                        "input": path,
                        "caption": " ".join(words),
                        "score": round(cap.score, 4),
                    }
                    if want_maps and cap.attention is not None and words:
                        png = map_dir / f"{paths.index(path):05d}_{Path(path).stem}.png"
                        record["attention_map"] = str(
                            save_attention_figure(image, words, cap.attention, self.grid, png)
                        )
                    records[path] = record
            for path in chunk:
                yield records[path]


def expand_image_inputs(inputs: Sequence[str]) -> list[str]:
    """Files stay; folders become their image files (sorted); a missing path is an error."""
    out: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            out.extend(
                str(p) for p in sorted(path.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES
            )
        elif path.exists():
            out.append(str(path))
        else:
            raise FileNotFoundError(f"input {item} does not exist")
    return out
