"""Base class of every task's LightningModule: hyperparameters, optimisation, logging, predict."""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from pytorch_lightning.callbacks import Timer
from pytorch_lightning.utilities.rank_zero import rank_zero_info
from pytorch_lightning.utilities.warnings import PossibleUserWarning

from tasks.harness.config_schema import resolved, validate
from tasks.harness.errors import ConfigError
from tasks.harness.eval_records import (
    Record,
    batch_records,
    gather_objects,
    gather_records,
    weighted_means,
)
from tasks.harness.optim import build_optimizer, build_scheduler
from tasks.harness.plain import to_plain

if TYPE_CHECKING:
    from tasks.harness.export import ExportGraph
    from tasks.harness.gate_plots import GateView

# Epoch-level val/test values are reduced across ranks by the harness before they are logged
# (TaskModule.finish_evaluation), so Lightning's advice to sync them does not apply.
warnings.filterwarnings(
    "ignore",
    message=r"It is recommended to use `self.log\('(val|test)/",
    category=PossibleUserWarning,
)

CHECKPOINT_KEY = "lstmkit"
"""Checkpoint entry holding the module class path, the run config and the output vocabularies."""


def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class TaskModule(pl.LightningModule, ABC):
    """A task's LightningModule, constructed as ``Module(model=..., optim=..., artifacts=...)``.

    Args:
        model: the task's model config (``cfg.model``; usually interpolates ``${encoder}``...).
        optim: optimizer and schedule config (``cfg.optim``, see :mod:`tasks.harness.optim`).
        artifacts: what the datamodule computed from the training split
            (``TaskDataModule.artifacts()``: vocabulary lists, label lists, feature statistics).

    All three are stored as plain containers in ``self.hparams``, so a checkpoint alone rebuilds
    the module and loads with ``torch.load(weights_only=True)``.

    Subclasses implement the Lightning steps, :meth:`predict_items` and, for output layers that
    follow a vocabulary or label set, :meth:`output_vocabularies`. They must keep the
    ``(model, optim, artifacts)`` constructor signature and call ``super().__init__``.

    Options are checked against the subclass's schemas (:mod:`tasks.harness.config_schema`):
    ``model`` against :attr:`model_schema`, ``model.encoder`` against
    :meth:`encoder_schema`, predict options against :attr:`predict_schema` (their values
    default to :meth:`predict_defaults`, read from ``model``).

    Corpus-level metrics: evaluation steps call :meth:`record` with per-sample predictions
    and references; at the end of every validation/test epoch the records of all DDP ranks
    are gathered (:func:`tasks.harness.eval_records.gather_records`) and
    :meth:`evaluation_metrics`, the task's metric function, turns them into the logged
    ``<stage>/<name>`` values, identical on every rank and equal to a 1-process evaluation.
    Subclasses overriding ``on_validation_epoch_end``/``on_test_epoch_end`` call ``super()``.
    """

    input_kind: ClassVar[str] = "file"
    """How ``predict`` expands inputs: ``"file"`` (paths; folders give their files) or
    ``"text"`` (texts; a file gives one text per line)."""
    input_extensions: ClassVar[tuple[str, ...]] = ()
    """Lower-case suffixes (``".wav"``) kept when a folder is expanded; empty keeps all files."""

    model_schema: ClassVar[type]
    """Dataclass of the ``model`` config (``conf/task/<name>.yaml``)."""
    predict_schema: ClassVar[type]
    """Dataclass of the predict ``options`` (``+options.<key>=<value>``)."""

    @classmethod
    @abstractmethod
    def encoder_schema(cls, encoder: Mapping[str, Any]) -> type:
        """Dataclass of ``encoder`` (``conf/encoder/<task>/<name>.yaml``); raises
        :class:`~tasks.harness.errors.ConfigError` for an encoder the task cannot use."""

    @classmethod
    def validate_model(cls, model: Any) -> None:
        """Check a ``model`` config (and its ``encoder``) against the task's schemas.

        Raises:
            ConfigError: one line naming the unknown, mistyped or missing key.
        """
        model = resolved(model)
        validate(cls.model_schema, model, "model")
        validate(cls.encoder_schema(model["encoder"]), model["encoder"], "model.encoder")

    def predict_defaults(self) -> dict[str, Any]:
        """The values of the predict options when a call sets none (from ``model``)."""
        return dict(self.hparams["model"]["predict"])

    def predict_options(self, options: Mapping[str, Any]) -> DictConfig:
        """``options`` over :meth:`predict_defaults`, checked against :attr:`predict_schema`.

        Raises:
            ConfigError: naming an unknown or mistyped option.
        """
        return validate(self.predict_schema, {**self.predict_defaults(), **options}, "options")

    def __init__(
        self, model: Mapping[str, Any], optim: Mapping[str, Any], artifacts: Mapping[str, Any]
    ) -> None:
        super().__init__()
        self.validate_model(model)
        self.save_hyperparameters(
            {
                "model": to_plain(model, "model"),
                "optim": to_plain(optim, "optim"),
                "artifacts": to_plain(artifacts, "artifacts"),
            }
        )
        self.run_config: dict[str, Any] = {}
        self.eval_records: dict[str, list[Record]] = defaultdict(list)
        self.eval_sums: dict[str, dict[str, tuple[float, int]]] = defaultdict(dict)

    @property
    def run_dir(self) -> Path:
        """The run directory: checkpoints, metrics and plots of this run live here."""
        return Path(self.trainer.default_root_dir)

    @property
    def plot_dir(self) -> Path:
        """``<run_dir>/plots``, created on first use."""
        path = self.run_dir / "plots"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def output_vocabularies(self) -> dict[str, list[str]]:
        """Map a parameter-name prefix of each output layer to the tokens/labels of its rows.

        Every tensor under such a prefix (e.g. ``"head."``: ``head.weight (V, H)``,
        ``head.bias (V,)``) has one row per token along dim 0. Fine-tuning keeps the rows of
        tokens that remain when the vocabulary changes. Default: no such layer.
        """
        return {}

    @abstractmethod
    def predict_items(self, inputs: list[str], options: Mapping[str, Any]) -> Iterator[dict]:
        """Yield one JSON-serialisable record per input (``input``, prediction, scores).

        ``inputs`` are file paths (``input_kind == "file"``) or texts (``"text"``); the module
        is in eval mode on its device under ``torch.inference_mode``. ``options`` is the
        ``options`` dict of ``conf/predict.yaml`` (task-specific knobs such as beam size).
        Raise ``ValueError`` naming the input for unusable inputs.
        """

    def gate_view(self, record: Mapping[str, Any]) -> GateView:
        """The LSTM gates of one predicted input and the input panel to draw them under
        (``predict ... gates=true``). ``record`` is what :meth:`predict_items` yielded for it.
        Tasks run the model again under :func:`lstmkit.record_gates`."""
        raise NotImplementedError(f"{type(self).__name__} cannot draw gate figures (gates=true)")

    def export_graphs(self) -> list[ExportGraph]:
        """The modules ``scripts/export.py`` writes, each with example inputs and dynamic axes
        (:class:`tasks.harness.export.ExportGraph`). Default: the task cannot be exported."""
        raise ConfigError(f"{type(self).__name__} defines no export graphs")

    def export_manifest(self) -> dict[str, Any]:
        """Manifest fields a caller of the exported graphs needs besides their inputs and
        outputs: vocabulary or labels, feature settings, special token ids."""
        return {}

    def record(self, stage: str, batch: Mapping[str, Any], **columns: Sequence[Any]) -> None:
        """Keep one record per sample of ``batch`` (``columns[name][b]`` for row ``b``: plain,
        picklable values such as strings, lists of strings, ints) for :meth:`evaluation_metrics`
        of ``stage`` (``"val"`` or ``"test"``)."""
        self.eval_records[stage] += batch_records(batch, columns)

    def evaluation_metrics(self, stage: str, records: list[Record]) -> dict[str, float]:
        """Corpus-level metrics of a ``stage`` epoch from the gathered ``records`` of every rank
        (each sample once, in sample-id order); logged as ``<stage>/<name>``. Default: none."""
        return {}

    def finish_evaluation(self, stage: str) -> list[Record]:
        """Gather ``stage``'s records from every rank, log :meth:`evaluation_metrics` on them
        and the means of :meth:`log_metrics`, and return the records (for reports written by
        rank 0)."""
        records = gather_records(self.eval_records.pop(stage, []))
        metrics = weighted_means(gather_objects(self.eval_sums.pop(stage, {})))
        metrics.update(self.evaluation_metrics(stage, records) if records else {})
        for name, value in metrics.items():
            # Every rank computed the same value from the same records: nothing to reduce.
            self.log(
                f"{stage}/{name}",
                float(value),
                on_epoch=True,
                sync_dist=False,
                prog_bar=name == "loss" or f"{stage}/{name}" == self._monitor(),
            )
        return records

    def on_validation_epoch_end(self) -> None:
        self.finish_evaluation("val")

    def on_test_epoch_end(self) -> None:
        self.finish_evaluation("test")

    def log_metrics(self, stage: str, metrics: Mapping[str, Any], batch_size: int) -> None:
        """Log ``metrics`` as ``<stage>/<name>``: per step and epoch in training; in
        ``val``/``test`` once per epoch, the mean over all samples of all DDP ranks
        (``sum_b value_b * B_b / sum_b B_b``, reduced in :meth:`finish_evaluation`)."""
        if stage != "train":
            sums = self.eval_sums[stage]
            for name, value in metrics.items():
                weighted, count = sums.get(name, (0.0, 0))
                sums[name] = (weighted + float(value) * batch_size, count + batch_size)
            return
        for name, value in metrics.items():
            self.log(
                f"{stage}/{name}",
                value,
                on_step=True,
                on_epoch=True,
                batch_size=batch_size,
                prog_bar=name == "loss" or f"{stage}/{name}" == self._monitor(),
            )

    def _monitor(self) -> str | None:
        return self.run_config.get("task", {}).get("monitor")

    def configure_optimizers(self) -> dict[str, Any]:
        optim = dict(self.hparams["optim"])
        if optim.get("fused") and self._clips_mixed_precision():
            # Lightning clips gradients before the step, which a fused kernel would unscale
            # itself, so it refuses the pair; the unfused step computes the same update.
            rank_zero_info(
                f"optim.fused off: trainer.precision={self.trainer.precision} clips gradients "
                "(trainer.gradient_clip_val) before the optimizer step"
            )
            optim["fused"] = False
        optimizer = build_optimizer(self.named_parameters(), optim)
        total_steps = self.trainer.estimated_stepping_batches
        if not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(
                f"the LR schedule needs a finite number of steps, got {total_steps}: "
                "set trainer.max_epochs or trainer.max_steps"
            )
        time_share = self._max_time_share() if optim["scheduler"].get("fit_max_time") else None
        scheduler = build_scheduler(optimizer, optim["scheduler"], total_steps, time_share)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def _clips_mixed_precision(self) -> bool:
        clip = self.trainer.gradient_clip_val
        return "mixed" in str(self.trainer.precision) and clip is not None and float(clip) > 0

    def _max_time_share(self) -> Callable[[], float] | None:
        """``t / T``: the share of ``trainer.max_time`` used so far (None without a limit).
        Lightning's own timer runs the clock, so the share it reports is the one that stops
        training, and it carries the elapsed time across a resume."""
        timer = next((c for c in self.trainer.callbacks if isinstance(c, Timer)), None)
        if timer is None or timer.time_remaining() is None:
            return None

        def share() -> float:
            elapsed = timer.time_elapsed()
            return elapsed / max(elapsed + timer.time_remaining(), 1e-9)

        return share

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store what eval/predict/fine-tune need besides the weights (override: call super)."""
        checkpoint[CHECKPOINT_KEY] = {
            "module": class_path(type(self)),
            "config": to_plain(self.run_config, "run config"),
            "output_vocabularies": to_plain(self.output_vocabularies(), "output_vocabularies"),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Adopt the checkpoint's run config unless this run already has one (resume keeps the
        current config)."""
        if not self.run_config:
            self.run_config = checkpoint.get(CHECKPOINT_KEY, {}).get("config", {})


def parameter_counts(module: torch.nn.Module) -> tuple[int, int]:
    """``(all, trainable)`` parameter counts."""
    params = list(module.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)
