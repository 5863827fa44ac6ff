"""Hydra callback writing one table of a sweep at its end: one row per job, or, for an Optuna
sweep with a stored study, one row per trial of the whole study (every run of the sweep)."""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import optuna
import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.lstmkit_optuna_sweeper.study import RETRY_OF, RUN_DIR, open_storage
from tasks.harness.summary import SUMMARY_FILE, read_summary
from tasks.harness.table import format_table, markdown_table

log = logging.getLogger(__name__)

SWEEP_CSV = "sweep_summary.csv"
SWEEP_MD = "sweep_summary.md"
FACT_KEYS = ["epochs", "parameters", "wall_time_s", "checkpoint"]


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
    headers = ["job", "overrides", *metric_keys, *FACT_KEYS]
    rows = [
        [
            job.name,
            job_overrides(job),
            *(s.get(k) for k in metric_keys),
            *(s.get(k) for k in FACT_KEYS),
        ]
        for job, s in zip(jobs, summaries, strict=True)
    ]
    return headers, rows


def collect_study(study: optuna.Study) -> tuple[list[str], list[list[Any]]]:
    """Headers and one row per trial: number, state (COMPLETE, PRUNED, FAIL, ...), value,
    parameters, the metrics and facts of its ``summary.json`` (pruned and failed jobs write
    none) and its run directory."""
    trials = study.get_trials(deepcopy=False)
    param_keys = list(dict.fromkeys(k for t in trials for k in t.params))
    summaries = [_summary_or_empty(t.user_attrs.get(RUN_DIR)) for t in trials]
    metric_keys = sorted({k for s in summaries for k in s if "/" in k})
    headers = ["trial", "state", "value", RETRY_OF, *param_keys, *metric_keys, *FACT_KEYS, RUN_DIR]
    rows = [
        [
            t.number,
            t.state.name,
            t.value,
            t.user_attrs.get(RETRY_OF),
            *(t.params.get(k) for k in param_keys),
            *(s.get(k) for k in metric_keys),
            *(s.get(k) for k in FACT_KEYS),
            t.user_attrs.get(RUN_DIR),
        ]
        for t, s in zip(trials, summaries, strict=True)
    ]
    return headers, rows


def _summary_or_empty(run_dir: str | None) -> dict[str, Any]:
    has_summary = run_dir is not None and (Path(run_dir) / SUMMARY_FILE).is_file()
    return read_summary(Path(run_dir)) if has_summary else {}


def stored_study(config: DictConfig) -> optuna.Study | None:
    """The Optuna sweep's study when ``hydra.sweeper`` names a storage, else ``None``."""
    storage = OmegaConf.select(config, "hydra.sweeper.storage", default=None)
    name = OmegaConf.select(config, "hydra.sweeper.study_name", default=None)
    if storage is None or name is None:
        return None
    return optuna.load_study(study_name=name, storage=open_storage(storage))


def write_sweep_summary(sweep_dir: Path, study: optuna.Study | None = None) -> Path | None:
    """Write ``sweep_summary.csv`` and ``sweep_summary.md`` into ``sweep_dir``: a row per trial
    of ``study``, or without one a row per job directory."""
    headers, rows = collect_study(study) if study is not None else collect_sweep(sweep_dir)
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
    """``on_multirun_end``: tabulate the sweep's study, or every job's ``summary.json``."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        write_sweep_summary(Path(config.hydra.sweep.dir), stored_study(config))
