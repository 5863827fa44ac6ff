"""Training steps per second with and without ``host_memory_reuse_mb``, side by side.

    python scripts/bench_host_memory.py [--steps 400] [--repeats 2] [task=langid key=value ...]

Runs ``scripts/train.py`` (the overrides given, default ``task=langid``) for ``--steps``
optimizer steps with no validation or test (and no time limit, unless the overrides set
``trainer.max_time``), once with glibc's default malloc thresholds
(``host_memory_reuse_mb=null``) and once with ``--reuse-mb``, ``--repeats`` times in
alternating order so that a machine's drift lands on both. Each run is a fresh process
(the thresholds hold for a whole process); its rate is ``global_step / fit_time_s`` from the
run's ``summary.json``. Prints each run, the median rates and their ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tasks.harness.child_process import REPO, checkout_environment


def setting_name(reuse_mb: int | None) -> str:
    """The ``host_memory_reuse_mb`` override value of a setting."""
    return "null" if reuse_mb is None else str(reuse_mb)


def steps_per_second(
    overrides: list[str], reuse_mb: int | None, steps: int, run_dir: Path
) -> float:
    """One training run's optimizer steps per second of ``trainer.fit``."""
    bench = {
        "test": "false",
        "trainer.max_steps": str(steps),
        "trainer.max_time": "null",
        "trainer.num_sanity_val_steps": "0",
        "callbacks.progress_bar": "null",
        "callbacks.early_stopping": "null",  # no validation, so nothing to stop on
    }
    given = {override.partition("=")[0] for override in overrides}
    command = [
        sys.executable,
        str(REPO / "scripts" / "train.py"),
        *overrides,
        *(f"{key}={value}" for key, value in bench.items() if key not in given),
        f"host_memory_reuse_mb={setting_name(reuse_mb)}",
        f"hydra.run.dir={run_dir}",
    ]
    done = subprocess.run(
        command, cwd=REPO, env=checkout_environment(), capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    if summary["global_step"] != steps:
        raise SystemExit(
            f"{run_dir}: trained {summary['global_step']} steps, not --steps {steps} "
            "(an epoch shorter than --steps ends the run with validation: lower --steps)"
        )
    return summary["global_step"] / summary["fit_time_s"]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400, help="optimizer steps per run")
    parser.add_argument("--repeats", type=int, default=2, help="runs per setting")
    parser.add_argument("--reuse-mb", type=int, default=1024, help="the setting against null")
    parser.add_argument("overrides", nargs="*", default=["task=langid"], help="train.py overrides")
    args = parser.parse_args(argv)

    settings: tuple[int | None, ...] = (None, args.reuse_mb)
    rates: dict[int | None, list[float]] = {s: [] for s in settings}
    with tempfile.TemporaryDirectory(prefix="bench_host_memory_") as scratch:
        for repeat in range(args.repeats):
            order = settings if repeat % 2 == 0 else settings[::-1]
            for setting in order:
                run_dir = Path(scratch) / f"{repeat}_{setting}"
                rate = steps_per_second(args.overrides, setting, args.steps, run_dir)
                rates[setting].append(rate)
                print(
                    f"run {repeat + 1}, host_memory_reuse_mb={setting_name(setting)}: "
                    f"{rate:.2f} steps/s",
                    flush=True,
                )
    default, reused = (statistics.median(rates[s]) for s in settings)
    print(f"\noverrides: {' '.join(args.overrides)}; {args.steps} steps, {args.repeats} runs each")
    print(f"host_memory_reuse_mb=null: {default:.2f} steps/s (median)")
    print(f"host_memory_reuse_mb={args.reuse_mb}: {reused:.2f} steps/s (median)")
    print(f"ratio: {reused / default:.2f}x")


if __name__ == "__main__":
    main()
