"""Hydra callback writing one table of all job summaries at the end of a sweep."""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from tasks.harness.summary import SUMMARY_FILE, read_summary
from tasks.harness.table import format_table, markdown_table

log = logging.getLogger(__name__)

SWEEP_CSV = "sweep_summary.csv"
SWEEP_MD = "sweep_summary.md"


def job_overrides(job_dir: Path) -> str:
    """The job's command-line overrides (``.hydra/overrides.yaml``), space separated."""
    path = job_dir / ".hydra" / "overrides.yaml"
    return " ".join(yaml.safe_load(path.read_text()) or []) if path.is_file() else ""


def collect_sweep(sweep_dir: Path) -> tuple[list[str], list[list[Any]]]:
    """Headers and one row per job that wrote a summary: job, overrides, metrics, facts."""
    jobs = sorted(
        (p.parent for p in sweep_dir.glob(f"*/{SUMMARY_FILE}")),
        key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name),
    )
    summaries = [read_summary(job) for job in jobs]
    metric_keys = sorted({k for s in summaries for k in s if "/" in k})
    fact_keys = ["epochs", "parameters", "wall_time_s", "checkpoint"]
    headers = ["job", "overrides", *metric_keys, *fact_keys]
    rows = [
        [
            job.name,
            job_overrides(job),
            *(s.get(k) for k in metric_keys),
            *(s.get(k) for k in fact_keys),
        ]
        for job, s in zip(jobs, summaries, strict=True)
    ]
    return headers, rows


def write_sweep_summary(sweep_dir: Path) -> Path | None:
    """Write ``sweep_summary.csv`` and ``sweep_summary.md`` into ``sweep_dir``."""
    headers, rows = collect_sweep(sweep_dir)
    if not rows:
        log.warning("sweep %s: no job wrote a %s", sweep_dir, SUMMARY_FILE)
        return None
    with open(sweep_dir / SWEEP_CSV, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        writer.writerows(rows)
    (sweep_dir / SWEEP_MD).write_text(markdown_table(headers, rows) + "\n")
    log.info("sweep summary (%s):\n%s", sweep_dir / SWEEP_CSV, format_table(headers, rows))
    return sweep_dir / SWEEP_CSV


class SweepSummary(Callback):
    """``on_multirun_end``: tabulate every job's ``summary.json`` in the sweep directory."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        write_sweep_summary(Path(config.hydra.sweep.dir))
