"""Optuna sweeps: search space, study resume, pruning, and the per-task searches end to end."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from hydra_plugins.lstmkit_optuna_sweeper._search_space import search_space, trial_overrides
from hydra_plugins.lstmkit_optuna_sweeper.study import (
    RETRY_OF,
    RUN_DIR,
    open_storage,
    open_study,
    requeue_unfinished,
)
from tasks.harness.optuna_pruning import pruned_trial_ends_quietly_off_rank_zero
from tasks.harness.resolvers import register_resolvers
from tests.harness.conftest import REPO, run_entry_point, toy_overrides
from tests.langid.langid_helpers import write_jsonl_splits

# A langid model and corpus small enough for a trial in a few seconds; the search keeps the
# optimiser and head knobs of conf/hparams_search/langid_optuna.yaml and shrinks the widths.
TINY_LANGID = [
    "task=langid",
    "hparams_search=langid_optuna",
    "data.corpus=null",
    "data.augmentation.mixed_per_language=0",  # 1,000 per language would swamp the toy rows
    "data.min_unit_freq=1",
    "data.batch_size=16",
    "data.eval_batch_size=64",
    "data.bucket_batches=2",
    "encoder.embedding_dim=8",
    "encoder.conv_channels=0",
    "encoder.attention_dim=8",
    "encoder.hidden_size=choice(8, 12)",
    "trainer.max_epochs=2",
    "trainer.limit_test_batches=1",
    "trainer.enable_model_summary=false",
    "callbacks.progress_bar=null",
    "logger=[]",
    "callbacks.lr_monitor=null",
    "hydra.sweeper.sampler.n_startup_trials=2",
]
STUDY = "langid_optuna"


def langid_root(tmp_path: Path) -> Path:
    write_jsonl_splits(tmp_path / "data" / "langid_text", ["aa", "bb", "cc", "dd"], n_train=16)
    return tmp_path


def load_study(sweep_dir: Path) -> optuna.Study:
    return optuna.load_study(
        study_name=STUDY, storage=open_storage(str(sweep_dir / "optuna.journal"))
    )


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_search_space_reads_hydra_sweep_syntax() -> None:
    searched, fixed = search_space(
        [
            "a=choice(x, y)",
            "b=range(128, 385, 64)",
            "c=interval(0.0, 0.5)",
            "d=tag(log, interval(1e-4, 1e-2))",
            "e=range(0.5, 2.0, 0.5)",
            "f=tag(log, range(1, 9))",
            "g=7",
            "a=choice(x, z)",
        ]
    )
    assert searched == {
        "a": CategoricalDistribution(["x", "z"]),  # the later (command line) entry wins
        "b": IntDistribution(128, 384, step=64),  # stop excluded, as in Hydra's range
        "c": FloatDistribution(0.0, 0.5),
        "d": FloatDistribution(1e-4, 1e-2, log=True),
        "e": FloatDistribution(0.5, 1.5, step=0.5),
        "f": IntDistribution(1, 8, log=True),
    }
    assert fixed == ["g=7"]
    assert trial_overrides({"a": None, "b": True, "c": 0.1, "d": "mean"}) == [
        "a=null",
        "b=true",
        "c=0.1",
        "d=mean",
    ]


def test_requeue_retries_killed_and_failed_trials_once() -> None:
    study = open_study("s", None, "max")
    space = {"x": FloatDistribution(0, 1)}
    for value in (0.5, None, None):
        trial = study.ask(space)
        if value is not None:
            study.tell(trial, value)
    study.tell(2, state=TrialState.FAIL)  # trial 1 stays RUNNING: its sweep was killed
    assert requeue_unfinished(study) == [1, 2]
    states = [t.state for t in study.trials]
    assert states == [
        TrialState.COMPLETE,
        TrialState.FAIL,
        TrialState.FAIL,
        *[TrialState.WAITING] * 2,
    ]
    assert [t.user_attrs[RETRY_OF] for t in study.trials[3:]] == [1, 2]
    assert requeue_unfinished(study) == [], "a queued retry is not queued again"
    retries = [study.ask(space) for _ in range(2)]
    assert [t.params for t in retries] == [t.params for t in study.trials[1:3]]
    assert requeue_unfinished(study) == [3, 4], "retries killed in turn are retried again"


def test_a_stored_study_keeps_its_direction(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "sweep" / "optuna.journal"))
    open_study("s", storage, "maximize")
    assert open_study("s", storage, "max").direction == optuna.study.StudyDirection.MAXIMIZE
    with pytest.raises(ValueError, match=r"created to maximize, not to minimize: pass another"):
        open_study("s", storage, "min")
    with pytest.raises(ValueError, match=r"direction='up': use one of"):
        open_study("t", storage, "up")


@pytest.mark.parametrize(
    ("overrides", "direction"),
    [
        (["task=speech", "hparams_search=speech_optuna"], "min"),
        (["task=langid", "hparams_search=langid_optuna"], "max"),
        (["experiment=langid_spoken", "hparams_search=langid_spoken_optuna"], "max"),
        (["task=captioning", "hparams_search=captioning_optuna"], "max"),
    ],
)
def test_every_task_search_targets_its_knobs(
    overrides: list[str], direction: str, hydra_config
) -> None:
    register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    hydra_config(cfg)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("lstmkit_optuna_sweeper.optuna_sweeper.OptunaSweeper")
    assert sweeper.direction == direction == cfg.task.monitor_mode
    name = overrides[1].split("=")[1]
    assert sweeper.study_name == name
    assert sweeper.storage.endswith(f"multirun/{cfg.task.name}/{name}/optuna.journal")
    assert sweeper.params, "a search space"
    for key in sweeper.params:
        assert OmegaConf.select(cfg, key, throw_on_missing=True) is not None, key
    searched, fixed = search_space(f"{k}={v}" for k, v in sweeper.params.items())
    assert set(searched) == set(sweeper.params) and not fixed
    pruning = cfg.callbacks.optuna_pruning
    assert pruning.monitor == cfg.task.monitor and pruning.pruner._target_.startswith("optuna")


def test_killed_langid_search_resumes_to_one_study(tmp_path: Path) -> None:
    """Maximise val/acc over 4 trials; SIGKILL the sweep while its second trial runs, run the
    same command again: one study with 4 finished trials, the killed one retried."""
    root = langid_root(tmp_path)
    args = ["-m", *TINY_LANGID, f"paths.root_dir={root}", "hydra.sweeper.n_trials=4"]
    sweep_dir = root / "multirun" / "langid" / STUDY
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "core" / "src")])}
    sweep = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "train.py"), *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    second_trial = sweep_dir / "1" / ".hydra" / "config.yaml"
    deadline = time.monotonic() + 300  # generous: only a hang should fail here
    try:
        while not second_trial.exists() and sweep.poll() is None:
            assert time.monotonic() < deadline, "the second trial did not start"
            time.sleep(0.05)
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)
        sweep.wait()
    assert sweep.returncode == -signal.SIGKILL
    killed = load_study(sweep_dir)
    assert [t.state for t in killed.trials] == [TrialState.COMPLETE, TrialState.RUNNING]

    run_entry_point("train", args[1:])  # the same command, without -m: the search sets MULTIRUN

    study = load_study(sweep_dir)
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    states = [t.state.name for t in study.trials]
    assert states[1] == "FAIL" and study.trials[2].user_attrs[RETRY_OF] == 1
    assert study.trials[2].params == killed.trials[1].params
    assert sum(s in ("COMPLETE", "PRUNED") for s in states) == 4 and len(states) == 5
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert study.best_value == max(t.value for t in complete)
    assert [p.name for p in (root / "multirun" / "langid").iterdir()] == [STUDY]
    rows = read_rows(sweep_dir / "sweep_summary.csv")
    assert [(r["trial"], r["state"]) for r in rows] == [(str(i), s) for i, s in enumerate(states)]
    for row, trial in zip(rows, study.trials, strict=True):
        assert row["run_dir"] == trial.user_attrs[RUN_DIR] == str(sweep_dir / row["trial"])
        assert row["optim.lr"] == str(trial.params["optim.lr"])
        if trial.state == TrialState.COMPLETE:
            assert float(row["value"]) == trial.value == float(row["best/val/acc"])
    markdown = (sweep_dir / "sweep_summary.md").read_text()
    assert markdown.startswith("| trial | state | value |") and markdown.count("\n") == 2 + 5


def test_median_pruner_stops_a_bad_trial(tmp_path: Path) -> None:
    """Trial 0 learns (lr 0.05), trial 1 cannot (lr 1e-7): an aggressive MedianPruner stops
    trial 1 after its first validation epoch."""
    root = langid_root(tmp_path)
    sweep_dir = root / "multirun" / "langid" / STUDY
    study = open_study(STUDY, open_storage(str(sweep_dir / "optuna.journal")), "max")
    for lr in (0.05, 1e-7):
        study.enqueue_trial({"optim.lr": lr})
    args = [
        *TINY_LANGID,
        f"paths.root_dir={root}",
        "optim.lr=tag(log, interval(1e-7, 0.05))",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.pruner.n_startup_trials=1",
        "hydra.sweeper.pruner.n_warmup_steps=0",
        "trainer.max_epochs=3",
    ]
    run_entry_point("train", args)
    trials = load_study(sweep_dir).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.PRUNED]
    assert sorted(trials[0].intermediate_values) == [0, 1, 2], "reported every epoch"
    assert sorted(trials[1].intermediate_values) == [0], "stopped after its first epoch"
    assert trials[1].value < trials[0].intermediate_values[0]
    assert not (sweep_dir / "1" / "summary.json").exists()
    rows = read_rows(sweep_dir / "sweep_summary.csv")
    assert [r["state"] for r in rows] == ["COMPLETE", "PRUNED"]
    assert rows[1]["run_dir"] == str(sweep_dir / "1") and rows[1]["epochs"] == ""


def test_a_pruned_trial_ends_other_ranks_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    with pruned_trial_ends_quietly_off_rank_zero():
        raise optuna.TrialPruned("val/acc=0.1 at epoch 0")
    with pytest.raises(RuntimeError), pruned_trial_ends_quietly_off_rank_zero():
        raise RuntimeError("a crash still fails the rank")
    monkeypatch.setattr(rank_zero_only, "rank", 0)
    with pytest.raises(optuna.TrialPruned), pruned_trial_ends_quietly_off_rank_zero():
        raise optuna.TrialPruned("rank 0 reports it to the sweeper")


@pytest.mark.slow
def test_ddp_trials_are_pruned_on_every_rank(tmp_path: Path) -> None:
    """Two DDP trials (2 CPU ranks each) pruned at their first validation: the sweep goes on."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "core" / "src")])}
    command = [sys.executable, str(REPO / "scripts" / "train.py"), *toy_overrides(tmp_path)]
    command += [
        "hparams_search=optuna",
        "trainer=ddp_cpu",
        "trainer.max_epochs=3",
        "encoder.hidden_size=choice(4, 8)",
        "hydra.sweeper.n_trials=2",
        "~hydra.sweeper.pruner.n_startup_trials",
        "hydra.sweeper.pruner._target_=optuna.pruners.ThresholdPruner",
        "+hydra.sweeper.pruner.upper=0.0",  # every positive val/loss is pruned
        "hydra.sweeper.pruner.n_warmup_steps=0",
    ]
    result = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sweep_dir = tmp_path / "multirun" / "toy" / "optuna"
    study = optuna.load_study(
        study_name="optuna", storage=open_storage(str(sweep_dir / "optuna.journal"))
    )
    assert [t.state for t in study.trials] == [TrialState.PRUNED, TrialState.PRUNED]
    assert all(list(t.intermediate_values) == [0] for t in study.trials)
    for trial in ("0", "1"):
        assert (sweep_dir / trial / "train_ddp_process_1.log").exists()
