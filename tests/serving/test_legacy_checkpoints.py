"""Checkpoints written by the earlier layout of the suite still load, predict and rebuild their data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from tasks.audio.io import write_audio
from tasks.harness.checkpoint import load_module
from tasks.harness.datamodule import TaskDataModule
from tasks.harness.train import build_datamodule

LEGACY = Path(__file__).parent / "legacy_checkpoints"
NAMES = ["speech", "langid_text", "langid_spoken", "captioning"]


def legacy_checkpoint(name: str, folder: Path) -> Path:
    """The stored checkpoint as a ``.ckpt`` file, its weights filled with seeded values."""
    stored = json.loads((LEGACY / f"{name}.json").read_text())
    generator = torch.Generator().manual_seed(0)
    stored["state_dict"] = {
        key: weight(key, shape, getattr(torch, dtype), generator)
        for key, (shape, dtype) in stored["state_dict"].items()
    }
    path = folder / f"{name}.ckpt"
    torch.save(stored, path)
    return path


def weight(
    key: str, shape: list[int], dtype: torch.dtype, generator: torch.Generator
) -> torch.Tensor:
    """Small uniform weights; batch-norm variances stay positive as a trained model's do."""
    if key.endswith("running_var"):
        return torch.ones(shape, dtype=dtype)
    return (0.2 * torch.rand(shape, generator=generator) - 0.1).to(dtype)


def predict_input(name: str, folder: Path) -> object:
    if name in ("speech", "langid_spoken"):
        path = folder / "clip.wav"
        write_audio(
            path, 0.1 * torch.randn(12000, generator=torch.Generator().manual_seed(1)), 16000
        )
        return str(path)
    if name == "captioning":
        path = folder / "image.png"
        Image.new("RGB", (40, 30), (200, 30, 30)).save(path)
        return str(path)
    return "ceci est une phrase en français"


@pytest.mark.parametrize("name", NAMES)
def test_legacy_checkpoint_loads_and_predicts(name: str, tmp_path: Path) -> None:
    module = load_module(legacy_checkpoint(name, tmp_path))
    records = list(module.predict_items([predict_input(name, tmp_path)], {}))
    assert len(records) == 1 and "error" not in records[0]


@pytest.mark.parametrize("name", NAMES)
def test_legacy_run_config_rebuilds_its_datamodule(name: str, tmp_path: Path) -> None:
    module = load_module(legacy_checkpoint(name, tmp_path))
    assert isinstance(build_datamodule(module.run_config["data"]), TaskDataModule)
