"""The environment of a ``scripts/train.py`` process that a script launches (benchmarks, checks)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def checkout_environment() -> dict[str, str]:
    """``os.environ`` with the checkout and ``core/src`` first on ``PYTHONPATH``: the child
    imports this checkout's code, installed or not, and task modules outside the installed
    packages (the toy task under ``tests``)."""
    paths = [str(REPO), str(REPO / "core" / "src"), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
