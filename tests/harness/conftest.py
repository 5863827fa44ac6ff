"""Fixtures running the harness entry points in-process on the toy task."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

REPO = Path(__file__).resolve().parents[2]
TOY_CONF = Path(__file__).resolve().parent / "conf"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def toy_overrides(root: Path) -> list[str]:
    """Select the toy task (config dir added to Hydra's search path) and a private root."""
    return [f"hydra.searchpath=[file://{TOY_CONF}]", "task=toy", f"paths.root_dir={root}"]


def run_entry_point(script: str, args: list[str]) -> None:
    """Call ``scripts/<script>.py``'s ``main()`` in this process with ``args`` as argv."""
    main = importlib.import_module(f"scripts.{script}").main
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", [f"{script}.py", *args])
        main()


def run_dirs(root: Path, task: str = "toy") -> set[Path]:
    runs = root / "outputs" / task / "runs"
    return {p for p in runs.iterdir() if p.is_dir()} if runs.is_dir() else set()


def train_toy_in(root: Path, *overrides: str) -> Path:
    """Train the toy task in-process under ``root``; returns the new run directory."""
    before = run_dirs(root)
    run_entry_point("train", [*toy_overrides(root), *overrides])
    (new,) = run_dirs(root) - before
    return new


@pytest.fixture
def train_toy(tmp_path: Path) -> Callable[..., Path]:
    """``train_toy(*overrides) -> run dir`` of a fresh in-process toy run under ``tmp_path``."""
    return lambda *overrides: train_toy_in(tmp_path, *overrides)


@pytest.fixture(scope="session")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One default toy run (labels neg/pos, 2 epochs, onecycle) shared by read-only tests."""
    return train_toy_in(tmp_path_factory.mktemp("base"))


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture
def hydra_config() -> Iterator[Callable[[DictConfig], None]]:
    """``hydra_config(cfg)`` sets Hydra's config singleton, so ``${hydra:...}`` resolves as in
    a job; it is unset after the test."""
    yield HydraConfig.instance().set_config
    HydraConfig.instance().cfg = None
