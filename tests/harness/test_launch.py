"""DDP, multirun sweeps, Optuna search and config composition on the toy task."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from tasks.harness.resolvers import register_resolvers
from tests.harness.conftest import (
    REPO,
    TOY_CONF,
    read_json,
    run_dirs,
    run_entry_point,
    toy_overrides,
)


def test_ddp_cpu_two_processes_write_one_run_dir(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "core" / "src")])}
    command = [sys.executable, str(REPO / "scripts" / "train.py"), *toy_overrides(tmp_path)]
    command += ["trainer=ddp_cpu", "trainer.max_epochs=1"]
    result = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=400
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    assert list((tmp_path / "outputs").iterdir()) == [tmp_path / "outputs" / "toy"]
    summary = read_json(run_dir / "summary.json")
    # 48 training items in batches of 8 = 6 batches, 3 per rank: both ranks trained one epoch.
    assert summary["global_step"] == 3 and summary["epochs"] == 1
    assert (run_dir / "train_ddp_process_1.log").exists(), "rank 1 ran inside the same run dir"
    checkpoint = torch.load(summary["checkpoint"], weights_only=True)
    assert checkpoint["global_step"] == 3


def test_multirun_writes_sweep_summary(tmp_path: Path) -> None:
    run_entry_point(
        "train", ["-m", *toy_overrides(tmp_path), "encoder.hidden_size=4,8", "trainer.max_epochs=1"]
    )
    (sweep_dir,) = (tmp_path / "multirun" / "toy").iterdir()
    with open(sweep_dir / "sweep_summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["job"] for row in rows] == ["0", "1"]
    assert [row["overrides"].split()[-2] for row in rows] == [
        "encoder.hidden_size=4",
        "encoder.hidden_size=8",
    ]
    # embed (1 -> h) 2h + batch norm 2h + head (h -> 2) 2h + 2
    assert [int(row["parameters"]) for row in rows] == [6 * 4 + 2, 6 * 8 + 2]
    assert all(float(row["test/acc"]) >= 0 and row["checkpoint"].endswith(".ckpt") for row in rows)
    markdown = (sweep_dir / "sweep_summary.md").read_text()
    assert markdown.startswith("| job | overrides |") and markdown.count("\n") == 4


@pytest.mark.slow
def test_optuna_search_runs_two_trials(tmp_path: Path) -> None:
    args = [
        "hparams_search=speech_optuna",
        "hydra.sweeper.n_trials=2",
        "trainer.max_epochs=1",
        "test=false",
    ]
    run_entry_point("train", [*toy_overrides(tmp_path), *args])
    (sweep_dir,) = (tmp_path / "multirun" / "toy").iterdir()
    results = (sweep_dir / "optimization_results.yaml").read_text()
    assert "best_params" in results and "encoder.hidden_size" in results
    with open(sweep_dir / "sweep_summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and all(row["best/val/loss"] for row in rows)


def compose_config(name: str, *overrides: str) -> DictConfig:
    register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(name, overrides=[f"hydra.searchpath=[file://{TOY_CONF}]", *overrides])


def test_task_switches_the_stack_and_groups_still_override() -> None:
    cfg = compose_config("train", "task=toy")
    assert cfg.data._target_.endswith("ToyDataModule") and cfg.encoder.hidden_size == 8
    assert cfg.model.encoder.hidden_size == 8 and cfg.task.monitor == "val/loss"
    cfg = compose_config("train", "task=toy", "data=toy3", "encoder.hidden_size=16")
    assert set(cfg.data.centers) == {"neg", "pos", "mid"}, "command line beats the task's override"
    assert cfg.model.encoder.hidden_size == 16, "model interpolates the encoder group"


@pytest.mark.parametrize(
    "overrides",
    [
        ["trainer=gpu"], ["trainer=ddp"], ["trainer=ddp_cpu"], ["logger=tensorboard"], ["logger=wandb"],
        ["logger=mlflow"], ["debug=fast_dev_run"], ["debug=limit"], ["debug=overfit"], ["debug=profiler"],
    ],
)  # fmt: skip
def test_every_group_option_composes(overrides: list[str]) -> None:
    cfg = compose_config("train", "task=toy", *overrides)
    assert cfg.trainer._target_ == "pytorch_lightning.Trainer" and "csv" in cfg.logger


def test_optuna_search_composes() -> None:
    register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                f"hydra.searchpath=[file://{TOY_CONF}]",
                "task=toy",
                "hparams_search=speech_optuna",
            ],
            return_hydra_config=True,
        )
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.storage is None
    assert (
        cfg.hydra.mode.name == "MULTIRUN"
        and sweeper.sampler._target_ == "optuna.samplers.TPESampler"
    )
    assert set(sweeper.params) == {"optim.lr", "optim.weight_decay", "encoder.hidden_size"}


def test_eval_and_predict_configs_compose() -> None:
    assert compose_config("eval", "task=toy", "ckpt=last").ckpt == "last"
    cfg = compose_config("predict", "task=toy", "ckpt=x.ckpt", "text=1 2", "+options.top_k=1")
    assert cfg.text == "1 2" and cfg.options.top_k == 1


def test_help_lists_groups(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_entry_point("train", ["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for group in (
        "trainer: cpu, ddp, ddp_cpu, default, gpu",
        "logger:",
        "debug:",
        "hparams_search:",
    ):
        assert group in out


def test_generate_data_and_clear_config_errors(tmp_path: Path) -> None:
    run_entry_point("generate_data", toy_overrides(tmp_path))
    assert [p.name for p in (tmp_path / "data" / "toy").iterdir()] == ["toy_1234_neg_pos.json"]
    with pytest.raises(SystemExit, match=r"^error: no task selected: pass task=<name>"):
        run_entry_point("train", [f"paths.root_dir={tmp_path}", "~task"])
    with pytest.raises(SystemExit, match=r"^error: checkpoint .*nope\.ckpt does not exist"):
        run_entry_point("train", [*toy_overrides(tmp_path), f"init_from={tmp_path}/nope.ckpt"])
    with pytest.raises(
        SystemExit, match=r"^error: ckpt_path=last: no checkpoints/last\.ckpt under"
    ):
        run_entry_point("train", [*toy_overrides(tmp_path), "ckpt_path=last"])
