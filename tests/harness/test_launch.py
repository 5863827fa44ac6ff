"""DDP, multirun sweeps, Optuna search and config composition on the toy task."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from hydra_plugins.lstmkit_optuna_sweeper.study import open_storage
from tasks.harness.resolvers import register_resolvers
from tests.harness.conftest import (
    REPO,
    TOY_CONF,
    read_json,
    run_dirs,
    run_entry_point,
    toy_overrides,
)


@pytest.mark.slow  # the multirun DDP test below also checks one directory per job
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


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


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


def test_ddp_jobs_of_a_multirun_run_once_in_their_own_dirs(tmp_path: Path) -> None:
    """Lightning's second rank of each job runs that job (not the sweep) in the job's directory."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "core" / "src")])}
    command = [sys.executable, str(REPO / "scripts" / "train.py"), "-m", *toy_overrides(tmp_path)]
    command += ["trainer=ddp_cpu", "trainer.max_epochs=1", "encoder.hidden_size=4,8"]
    result = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=400
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep_dir,) = (tmp_path / "multirun" / "toy").iterdir()
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0", "1"]
    assert not (tmp_path / "outputs").exists(), "no rank ran outside its job directory"
    log = result.stdout + result.stderr
    assert log.count("Launching 2 jobs") == 1 and log.count("#1 : ") == 1, "the sweep ran once"
    for job, hidden in (("0", 4), ("1", 8)):
        summary = read_json(sweep_dir / job / "summary.json")
        # 48 training items in batches of 8 = 6 batches, 3 per rank: both ranks trained.
        assert summary["global_step"] == 3 and summary["parameters"] == 6 * hidden + 2
        assert (sweep_dir / job / "train_ddp_process_1.log").exists(), "rank 1 in this job dir"
        assert (sweep_dir / job / "train.log").read_text().count("run summary") == 1


def test_submitit_local_launcher_runs_a_two_job_multirun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # submitit runs each job in a subprocess that imports scripts.train
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), str(REPO / "core" / "src")]))
    run_entry_point(
        "train",
        [
            "-m",
            *toy_overrides(tmp_path),
            "launcher=submitit_local",
            "encoder.hidden_size=4,8",
            "trainer.max_epochs=1",
            "test=false",
        ],
    )
    (sweep_dir,) = (tmp_path / "multirun" / "toy").iterdir()
    # submitit's local job id is the pid of the job's process
    job_ids = [
        yaml.safe_load((sweep_dir / job / ".hydra" / "hydra.yaml").read_text())["hydra"]["job"][
            "id"
        ]
        for job in ("0", "1")
    ]
    assert len(set(job_ids)) == 2 and str(os.getpid()) not in job_ids
    assert all((sweep_dir / ".submitit" / job_id).is_dir() for job_id in job_ids)
    for job, hidden in (("0", 4), ("1", 8)):
        assert read_json(sweep_dir / job / "summary.json")["parameters"] == 6 * hidden + 2
    rows = read_rows(sweep_dir / "sweep_summary.csv")
    assert [row["job"] for row in rows] == ["0", "1"]


def test_optuna_trials_in_parallel_joblib_workers(tmp_path: Path) -> None:
    """Two trials at a time in joblib worker processes; each reports its curve to its trial."""
    run_entry_point(
        "train",
        [
            *toy_overrides(tmp_path),
            "hparams_search=optuna",
            "launcher=joblib",
            "hydra.sweeper.n_trials=2",
            "encoder.hidden_size=choice(4, 8)",
            "optim.lr=tag(log, interval(1e-3, 1e-1))",
            "trainer.max_epochs=2",
            "test=false",
        ],
    )
    sweep_dir = tmp_path / "multirun" / "toy" / "optuna"
    study = optuna.load_study(
        study_name="optuna", storage=open_storage(str(sweep_dir / "optuna.journal"))
    )
    assert study.direction.name == "MINIMIZE", "task=toy monitors val/loss, mode min"
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    assert all(sorted(t.intermediate_values) == [0, 1] for t in study.trials)
    assert {t.params["encoder.hidden_size"] for t in study.trials} <= {4, 8}
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert results["best"]["value"] == min(t.value for t in study.trials)
    assert results["trials"] == {"COMPLETE": 2}


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


def test_time_limits_of_the_default_recipes() -> None:
    """speech and written LID cap training for the 15-minute budget, the LR schedule ending
    with the cap; the spoken preset, longer by design, inherits no cap from task=langid."""
    for task in ("speech", "langid"):
        cfg = compose_config("train", f"task={task}")
        assert cfg.trainer.max_time == "00:00:11:00" and cfg.optim.scheduler.fit_max_time
    assert compose_config("train", "experiment=langid_spoken").trainer.max_time is None


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


def compose_with_hydra(*overrides: str) -> DictConfig:
    register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(
            "train",
            overrides=[f"hydra.searchpath=[file://{TOY_CONF}]", "task=toy", *overrides],
            return_hydra_config=True,
        )


def test_optuna_search_composes() -> None:
    cfg = compose_with_hydra("hparams_search=optuna", "paths.root_dir=/r", "launcher=joblib")
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and cfg.hydra.mode.name == "MULTIRUN"
    assert sweeper.storage == "/r/multirun/toy/optuna/optuna.journal"
    assert sweeper.direction == "min" and sweeper.n_jobs == cfg.hydra.launcher.n_jobs == 2
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler" and sweeper.sampler.seed == 1234


def test_slurm_launcher_sizes_the_trainer_from_the_allocation(hydra_config) -> None:
    cfg = compose_with_hydra(
        "launcher=slurm", "trainer=ddp", "hydra.launcher.nodes=2", "hydra.launcher.gpus_per_node=4"
    )
    hydra_config(cfg)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.nodes, launcher.tasks_per_node, launcher.gpus_per_node) == (2, 4, 4)
    assert (cfg.trainer.num_nodes, cfg.trainer.devices) == (2, 4)
    assert cfg.trainer.strategy._target_.endswith("DDPStrategy")
    assert compose_with_hydra("launcher=submitit_local").hydra.launcher._target_.endswith(
        "LocalLauncher"
    )


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
        "launcher: basic, joblib, slurm, submitit_local",
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
