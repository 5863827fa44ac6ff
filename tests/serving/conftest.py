"""Session fixtures: one tiny untrained checkpoint per exportable task model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.serving.tiny_models import build_tiny, save_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``tiny_checkpoint(name) -> .ckpt``, built once per name."""
    built: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in built:
            path = tmp_path_factory.mktemp(name) / "run" / "checkpoints" / "last.ckpt"
            built[name] = save_checkpoint(build_tiny(name), path)
        return built[name]

    return make
