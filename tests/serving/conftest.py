"""Session fixtures: one tiny untrained checkpoint per exportable task model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.serving.tiny_models import build_tiny, save_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``tiny_checkpoint(name, *overrides) -> .ckpt``, built once per name and overrides."""
    built: dict[tuple[str, ...], Path] = {}

    def make(name: str, *overrides: str) -> Path:
        key = (name, *overrides)
        if key not in built:
            path = tmp_path_factory.mktemp(name) / "run" / "checkpoints" / "last.ckpt"
            built[key] = save_checkpoint(build_tiny(name, *overrides), path)
        return built[key]

    return make
