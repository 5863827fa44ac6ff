"""The run summary: ``summary.json`` and its printed table."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from tasks.harness.table import format_table

SUMMARY_FILE = "summary.json"


def plain_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Metric tensors/numbers -> floats (non-finite values become ``None`` in JSON)."""
    out = {}
    for name, value in metrics.items():
        number = float(value.item() if isinstance(value, torch.Tensor) else value)
        out[name] = number if math.isfinite(number) else None
    return out


def write_summary(run_dir: Path, summary: Mapping[str, Any]) -> Path:
    """Write ``<run_dir>/summary.json`` (sorted keys, indented)."""
    path = Path(run_dir) / SUMMARY_FILE
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return path


def read_summary(run_dir: Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / SUMMARY_FILE).read_text())


def summary_table(summary: Mapping[str, Any]) -> str:
    """Two-column table: metrics first (``test/...``, ``val/...``), then the run facts."""
    metric_keys = sorted(k for k in summary if "/" in k)
    other_keys = sorted(k for k in summary if "/" not in k)
    return format_table(["field", "value"], [(k, summary[k]) for k in metric_keys + other_keys])
