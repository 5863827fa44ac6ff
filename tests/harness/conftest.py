"""Fixtures running the harness entry points in-process on the toy task."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOY_CONF = Path(__file__).resolve().parent / "conf"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def toy_overrides(root: Path) -> list[str]:
    """Select the toy task (config dir added to Hydra's search path) and a private root."""
    return [f"hydra.searchpath=[file://{TOY_CONF}]", "task=toy", f"paths.root_dir={root}"]


def run_entry_point(script: str, args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Call ``scripts/<script>.py``'s ``main()`` in this process with ``args`` as argv."""
    from scripts import eval as eval_script
    from scripts import predict as predict_script
    from scripts import train as train_script

    main = {"train": train_script, "eval": eval_script, "predict": predict_script}[script].main
    monkeypatch.setattr(sys, "argv", [f"{script}.py", *args])
    main()


def run_dirs(root: Path, task: str = "toy") -> list[Path]:
    return sorted(p for p in (root / "outputs" / task / "runs").iterdir() if p.is_dir())


@pytest.fixture
def train_toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """``train_toy(*overrides) -> run dir`` of a fresh in-process toy training run."""

    def run(*overrides: str) -> Path:
        before = set(run_dirs(tmp_path)) if (tmp_path / "outputs").exists() else set()
        run_entry_point("train", [*toy_overrides(tmp_path), *overrides], monkeypatch)
        (new,) = set(run_dirs(tmp_path)) - before
        return new

    return run


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())
