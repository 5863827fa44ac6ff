"""Tiny untrained task models and their checkpoints, built from the real configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from tasks.harness.module import TaskModule
from tasks.harness.plain import to_plain
from tasks.harness.resolvers import register_resolvers
from tasks.text.vocabulary import Vocabulary

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
LETTERS = list("abcdefghijklmnopqrstuvwxyz '")

OVERRIDES = {
    "speech": [
        "task=speech",
        "encoder.hidden_size=16",
        "encoder.num_layers=2",
        "model.decoding.beam_size=1",
    ],
    "langid_text": [
        "task=langid",
        "encoder.embedding_dim=8",
        "encoder.conv_channels=8",
        "encoder.hidden_size=8",
        "encoder.attention_dim=8",
        "encoder.ngram_buckets=4096",
        "encoder.ngram_word_buckets=1024",
    ],
    "langid_spoken": [
        "task=langid",
        "data=langid_spoken",
        "encoder=langid/audio_bilstm",
        "encoder.hidden_size=8",
        "encoder.num_layers=1",
        "encoder.attention_dim=8",
    ],
    "captioning": [
        "task=captioning",
        "encoder.channels=[8,16]",
        "model.decoder.hidden_size=16",
        "model.decoder.embedding_size=8",
        "model.decoder.attention_size=8",
        "model.decoding.max_len=6",
        "model.decoding.beam_size=2",
    ],
}
LABELS = ["de", "en", "fr"]


def artifacts(name: str, cfg: Any) -> dict[str, Any]:
    """What each task's datamodule would compute from a training split, made up."""
    if name == "speech":
        return {
            "vocabulary": Vocabulary(LETTERS, specials=("<blank>",)).to_list(),
            "cmvn": {"mean": [0.0] * 80, "std": [1.0] * 80},
            "sample_rate": 16000,
            "features": OmegaConf.to_container(cfg.data.features, resolve=True),
        }
    if name == "langid_text":
        vocabulary = Vocabulary(LETTERS, specials=("<pad>", "<unk>"), unk="<unk>")
        return {
            "modality": "text",
            "labels": LABELS,
            "vocabulary": vocabulary.to_list(),
            "unit": "char",
            "max_units": 64,
        }
    if name == "langid_spoken":
        features = OmegaConf.to_container(cfg.data.features, resolve=True)
        n_mels = features["n_mels"]
        return {
            "modality": "audio",
            "labels": LABELS,
            "features": features,
            "cmvn": {"mean": [0.0] * n_mels, "std": [1.0] * n_mels},
        }
    words = ["a", "red", "blue", "circle", "square", "on", "the", "left", "right"]
    vocabulary = Vocabulary(words, specials=("<pad>", "<bos>", "<eos>", "<unk>"), unk="<unk>")
    return {"vocabulary": vocabulary.to_list(), "image_size": 32}


def composed(*overrides: str) -> DictConfig:
    """``conf/train.yaml`` composed with ``overrides``, with its ``hydra`` section set as the
    running app's (``${hydra:...}`` interpolations and the group choices resolve)."""
    register_resolvers()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return cfg


def datamodule_options(*overrides: str) -> dict[str, Any]:
    """The ``data`` config of ``conf/train.yaml`` with ``overrides``, resolved, without its
    ``_target_``: the keyword arguments of the datamodule it names."""
    options = to_plain(composed(*overrides).data, "data")
    del options["_target_"]
    return options


def model_config(*overrides: str) -> dict[str, Any]:
    """The ``model`` config of ``conf/train.yaml`` with ``overrides``, resolved."""
    return to_plain(composed(*overrides).model, "model")


def build_tiny(name: str, *overrides: str) -> TaskModule:
    """An untrained module of ``name`` (a key of :data:`OVERRIDES`, then ``overrides``),
    seeded, in eval mode."""
    register_resolvers()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[*OVERRIDES[name], *overrides])
    module_path = cfg.task.module
    module_name, _, class_name = module_path.rpartition(".")
    cls = getattr(__import__(module_name, fromlist=[class_name]), class_name)
    torch.manual_seed(0)
    module = cls(
        model=to_plain(cfg.model, "model"),
        optim=to_plain(cfg.optim, "optim"),
        artifacts=artifacts(name, cfg),
    )
    module.run_config = {"task": to_plain(cfg.task, "task")}
    return module.eval()


def save_checkpoint(module: TaskModule, path: Path) -> Path:
    """What ``Trainer.save_checkpoint`` keeps that ``load_module`` reads."""
    checkpoint = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
    module.on_save_checkpoint(checkpoint)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    return path
