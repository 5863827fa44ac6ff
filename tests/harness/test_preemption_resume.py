"""A real training subprocess killed (``kill -9``) or preempted (SIGTERM, SIGUSR1) mid-epoch
resumes with ``ckpt_path=last`` exactly where its last checkpoint left it: no batch skipped,
none repeated beyond the checkpoint interval, the same LR schedule, the same final weights
and test metrics as an uninterrupted run with the same seed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tasks.harness.batch_log import read_batch_log
from tests.harness.conftest import REPO, read_json, run_dirs, toy_overrides

INTERVAL = 4  # checkpoint every 4 optimizer steps
PAUSE_STEP = 9  # 6 steps per epoch: the 4th batch of epoch 2, one step after a checkpoint
EPOCHS = 3
WAIT_S = 60.0


def train_command(root: Path, log: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        str(REPO / "scripts" / "train.py"),
        *toy_overrides(root),
        f"trainer.max_epochs={EPOCHS}",
        "model.dropout=0.3",  # training draws random numbers: the RNG state must resume too
        f"callbacks.interval_checkpoint.every_n_train_steps={INTERVAL}",
        *extra,
        "+callbacks.batch_log._target_=tasks.harness.batch_log.BatchLog",
        f"+callbacks.batch_log.path={log}",
    ]


def environment() -> dict[str, str]:
    paths = [str(REPO / "core" / "src"), str(REPO), os.environ.get("PYTHONPATH", "")]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),
        "OMP_NUM_THREADS": "1",
    }


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=environment(), capture_output=True, text=True, timeout=300)


def start_paused(root: Path, log: Path) -> tuple[subprocess.Popen, Path]:
    """Start training that pauses before step ``PAUSE_STEP + 1``; return once it is paused."""
    marker = root / "paused"
    pause = [
        "+callbacks.pause._target_=tests.harness.run_probes.PauseAt",
        f"+callbacks.pause.step={PAUSE_STEP}",
        f"+callbacks.pause.marker={marker}",
    ]
    process = subprocess.Popen(
        train_command(root, log, *pause),
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + WAIT_S
    while not marker.exists():
        if process.poll() is not None:
            pytest.fail(f"training exited early ({process.returncode}): {process.stderr.read()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"training did not reach step {PAUSE_STEP} within {WAIT_S} s")
        time.sleep(0.05)
    return process, marker


def final_state(run_dir: Path) -> dict[str, torch.Tensor]:
    path = run_dir / "checkpoints" / "last.ckpt"
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """``(run dir, batch log)`` of the run that is never stopped."""
    root = tmp_path_factory.mktemp("uninterrupted")
    log = root / "batches.jsonl"
    done = run(train_command(root, log))
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = run_dirs(root)
    return run_dir, read_batch_log(log)


def resume_and_compare(
    root: Path, first: list[dict], uninterrupted: tuple[Path, list[dict]], resumed_from: int
) -> None:
    """Resume with ``ckpt_path=last`` and compare everything with the uninterrupted run."""
    reference_dir, reference = uninterrupted
    log = root / "resumed.jsonl"
    done = run(train_command(root, log, "ckpt_path=last"))
    assert done.returncode == 0, done.stderr[-3000:]
    second = read_batch_log(log)
    (run_dir,) = run_dirs(root)  # resumed in the same run directory

    steps = [r["step"] for r in second]
    assert steps[0] == resumed_from + 1  # global step continues after the checkpoint
    assert steps == list(range(resumed_from + 1, len(reference) + 1))
    # Batches: the first run's up to the checkpoint plus the resumed run's are exactly the
    # uninterrupted run's, in order (nothing skipped or repeated), with the same LRs.
    assert first[:resumed_from] + second == reference
    repeated = len(first) - resumed_from
    assert 0 <= repeated < INTERVAL

    expected, got = final_state(reference_dir), final_state(run_dir)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    metrics = read_json(run_dir / "summary.json")
    reference_metrics = read_json(reference_dir / "summary.json")
    assert metrics["global_step"] == reference_metrics["global_step"] == len(reference)
    assert metrics["test/loss"] == reference_metrics["test/loss"]
    assert metrics["test/acc"] == reference_metrics["test/acc"]


def interrupt(root: Path, signum: int) -> tuple[list[dict], subprocess.Popen, str, dict]:
    """Start a run paused at ``PAUSE_STEP``, send it ``signum`` and wait for it to end.
    Returns its batch log, the process, its stderr and its ``last.ckpt``."""
    log = root / "first.jsonl"
    process, _ = start_paused(root, log)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=WAIT_S)
    last = run_dirs(root).pop() / "checkpoints" / "last.ckpt"
    assert not last.with_name("last.ckpt.partial").exists()
    checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    return read_batch_log(log), process, stderr, checkpoint


def test_kill_9_mid_epoch_resumes_from_the_step_checkpoint(
    tmp_path: Path, uninterrupted: tuple[Path, list[dict]]
) -> None:
    first, _, _, checkpoint = interrupt(tmp_path, signal.SIGKILL)
    assert [r["step"] for r in first] == list(range(1, PAUSE_STEP + 1))
    assert checkpoint["global_step"] == PAUSE_STEP - PAUSE_STEP % INTERVAL
    resume_and_compare(tmp_path, first, uninterrupted, resumed_from=checkpoint["global_step"])


@pytest.mark.parametrize(
    "signum",
    [signal.SIGTERM, pytest.param(signal.SIGUSR1, marks=pytest.mark.slow)],
    ids=lambda s: s.name,
)
def test_signal_saves_at_the_next_batch_end_and_resumes(
    signum: signal.Signals, tmp_path: Path, uninterrupted: tuple[Path, list[dict]]
) -> None:
    first, process, stderr, checkpoint = interrupt(tmp_path, signum)
    assert process.returncode == 128 + signum, stderr[-3000:]
    assert f"stopped by {signum.name}" in stderr
    assert "Traceback" not in stderr
    assert [r["step"] for r in first] == list(range(1, PAUSE_STEP + 2))
    assert checkpoint["global_step"] == PAUSE_STEP + 1  # the batch in flight, then saved
    resume_and_compare(tmp_path, first, uninterrupted, resumed_from=PAUSE_STEP + 1)
