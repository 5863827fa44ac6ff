"""Measure what a ``kill -9`` costs: train uninterrupted, train again and kill it mid-epoch,
resume with ``ckpt_path=<run dir>``, and compare.

    python scripts/resume_check.py --root /tmp/resume_check            # default speech recipe
    python scripts/resume_check.py --root DIR --max-steps 400 -- task=langid data.max_train_per_label=200

Both runs use a fixed ``trainer.max_steps`` and no ``trainer.max_time`` (a time-fitted run's
schedule and length depend on the machine's speed, so two runs would not be comparable).
The killed run gets ``SIGKILL`` once it starts batch ``--kill-fraction`` of epoch
``--kill-epoch`` (0-based; epoch 1 is the second). Reported: the global step of the
checkpoint resumed from, the steps repeated (batches the killed run had started after that
checkpoint), whether the batch order and learning rates of the interrupted + resumed run
equal the uninterrupted run's, the largest weight difference and the test metrics of both.
The report is printed as markdown and written to ``<root>/resume_check.json``.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tasks.harness.batch_log import read_batch_log  # noqa: E402
from tasks.harness.child_process import checkout_environment  # noqa: E402

POLL_S = 0.05


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="paths.root_dir of both runs")
    parser.add_argument("--max-steps", type=int, default=2000, help="trainer.max_steps")
    parser.add_argument("--interval", type=int, default=100, help="checkpoint every N steps")
    parser.add_argument("--kill-epoch", type=int, default=1, help="0-based epoch to kill in")
    parser.add_argument("--kill-fraction", type=float, default=0.5, help="share of that epoch")
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds per run")
    parser.add_argument(
        "--first-run",
        action="append",
        default=[],
        metavar="OVERRIDE",
        help="extra override for the run that is killed only (repeatable)",
    )
    parser.add_argument("overrides", nargs="*", help="train.py overrides (default task=speech)")
    args = parser.parse_args(argv)
    args.root = args.root.resolve()
    return args


def train_command(args: argparse.Namespace, log: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        str(REPO / "scripts" / "train.py"),
        *(args.overrides or ["task=speech"]),
        f"paths.root_dir={args.root}",
        "trainer.max_time=null",
        f"trainer.max_steps={args.max_steps}",
        f"callbacks.interval_checkpoint.every_n_train_steps={args.interval}",
        "callbacks.progress_bar.refresh_rate=0",
        "+callbacks.batch_log._target_=tasks.harness.batch_log.BatchLog",
        f"+callbacks.batch_log.path={log}",
        *extra,
    ]


def run_to_end(command: list[str], timeout: float) -> None:
    done = subprocess.run(command, env=checkout_environment(), timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"error: training exited with status {done.returncode}: {command}")


def kill_point_reached(records: list[dict], kill_epoch: int, fraction: float) -> bool:
    """Whether the killed run has started batch ``fraction * (batches of epoch 0)`` of
    ``kill_epoch`` (epochs have the same number of batches)."""
    per_epoch = sum(r["epoch"] == 0 for r in records)
    in_epoch = sum(r["epoch"] == kill_epoch for r in records)
    return kill_epoch > 0 and in_epoch >= max(1, round(fraction * per_epoch))


def run_and_kill(args: argparse.Namespace, log: Path) -> None:
    """Start the run that is killed; ``SIGKILL`` it at the kill point (polling its log)."""
    process = subprocess.Popen(
        train_command(args, log, *args.first_run), env=checkout_environment()
    )
    deadline = time.monotonic() + args.timeout
    while True:
        if process.poll() is not None:
            raise SystemExit(
                f"error: the run ended (status {process.returncode}) before the kill point; "
                "raise --max-steps or lower --kill-epoch"
            )
        if log.is_file() and kill_point_reached(
            read_batch_log(log), args.kill_epoch, args.kill_fraction
        ):
            process.send_signal(signal.SIGKILL)
            process.wait()
            return
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"error: no kill point within {args.timeout} s")
        time.sleep(POLL_S)


def only_run_dir(root: Path, before: set[Path]) -> Path:
    after = {p for p in root.glob("outputs/*/runs/*") if p.is_dir()}
    (run_dir,) = after - before
    return run_dir


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    path = run_dir / "checkpoints" / "last.ckpt"
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def compare(args: argparse.Namespace) -> dict[str, Any]:
    args.root.mkdir(parents=True, exist_ok=True)
    logs = {
        name: args.root / f"batches_{name}.jsonl" for name in ("reference", "killed", "resumed")
    }
    for log in logs.values():
        log.unlink(missing_ok=True)
    existing = {p for p in args.root.glob("outputs/*/runs/*") if p.is_dir()}
    run_to_end(train_command(args, logs["reference"]), args.timeout)
    reference_dir = only_run_dir(args.root, existing)

    run_and_kill(args, logs["killed"])
    killed_dir = only_run_dir(args.root, existing | {reference_dir})
    checkpoint = killed_dir / "checkpoints" / "last.ckpt"
    if not checkpoint.is_file():
        raise SystemExit(f"error: no checkpoint in {killed_dir} before the kill")
    resumed_from = torch.load(checkpoint, map_location="cpu", weights_only=True)["global_step"]
    run_to_end(train_command(args, logs["resumed"], f"ckpt_path={killed_dir}"), args.timeout)

    reference, killed, resumed = (read_batch_log(logs[n]) for n in logs)
    expected, got = weights(reference_dir), weights(killed_dir)
    summaries = {
        name: json.loads((run_dir / "summary.json").read_text())
        for name, run_dir in (("uninterrupted", reference_dir), ("resumed", killed_dir))
    }
    return {
        "kill": f"epoch {args.kill_epoch}, {args.kill_fraction:.0%} through",
        "killed_at_step": killed[-1]["step"],
        "resumed_from_step": resumed_from,
        "steps_repeated": sum(r["step"] > resumed_from for r in killed),
        "checkpoint_interval": args.interval,
        "batches_and_lr_equal": killed[:resumed_from] + resumed == reference,
        "max_abs_weight_difference": max(
            float((expected[k].float() - got[k].float()).abs().max())
            for k in expected
            if expected[k].numel()
        ),
        "test_metrics": {
            name: {k: v for k, v in s.items() if k.startswith("test/")}
            for name, s in summaries.items()
        },
        "run_dirs": {"uninterrupted": str(reference_dir), "resumed": str(killed_dir)},
    }


def markdown(report: dict[str, Any]) -> str:
    lines = ["| | |", "| --- | --- |"]
    for key, value in report.items():
        if key == "test_metrics":
            for run, metrics in value.items():
                lines += [f"| {run} {k} | {v:.4f} |" for k, v in sorted(metrics.items())]
        elif key != "run_dirs":
            lines.append(f"| {key.replace('_', ' ')} | {value} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    report = compare(args)
    (args.root / "resume_check.json").write_text(json.dumps(report, indent=2))
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
