"""``scripts/resume_check.py`` on the toy task: the report of a kill -9 mid-epoch 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.resume_check import main
from tests.harness.conftest import toy_overrides


@pytest.mark.slow  # a full kill-and-resume of two training runs; the kill -9 test covers resume
def test_resume_check_reports_an_exact_resume(tmp_path: Path) -> None:
    pause = [
        "+callbacks.pause._target_=tests.harness.run_probes.PauseAt",
        "+callbacks.pause.step=9",  # holds the run in epoch 2 until the script kills it
        f"+callbacks.pause.marker={tmp_path / 'paused'}",
    ]
    report = main(
        [
            "--root",
            str(tmp_path),
            "--max-steps=18",
            "--interval=4",
            *(f"--first-run={o}" for o in pause),
            "--",
            *toy_overrides(tmp_path)[:2],
            "trainer.max_epochs=3",
            "model.dropout=0.3",
        ]
    )
    assert report["resumed_from_step"] == 8
    assert 1 <= report["steps_repeated"] <= 2  # started after the step-8 checkpoint
    assert report["batches_and_lr_equal"] is True
    assert report["max_abs_weight_difference"] == 0.0
    metrics = report["test_metrics"]
    assert metrics["resumed"] == metrics["uninterrupted"] and "test/acc" in metrics["resumed"]
    assert (tmp_path / "resume_check.json").is_file()
