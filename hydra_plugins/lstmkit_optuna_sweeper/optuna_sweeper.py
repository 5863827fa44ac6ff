"""A Hydra sweeper on Optuna's ask-and-tell API.

Each round asks the study for ``n_jobs`` trials, turns their parameters into job overrides,
launches them through ``hydra.launcher`` (basic, joblib, submitit) and tells the study each job's
outcome: its return value (``COMPLETE``), :class:`optuna.TrialPruned` (``PRUNED``) or any other
exception or a missing value (``FAIL``). Job ``hydra.job.num`` is the trial number, so job
directories are ``<sweep dir>/<trial number>`` and a job finds its trial again through
:func:`hydra_plugins.lstmkit_optuna_sweeper.study.load_trial`.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra.utils
import optuna
import yaml
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict
from optuna.trial import TrialState

from hydra_plugins.lstmkit_optuna_sweeper._search_space import search_space, trial_overrides
from hydra_plugins.lstmkit_optuna_sweeper.study import (
    RUN_DIR,
    finished_trials,
    open_storage,
    open_study,
    requeue_unfinished,
)

log = logging.getLogger(__name__)

RESULTS_FILE = "optimization_results.yaml"


class OptunaSweeper(Sweeper):
    """``hydra/sweeper=lstmkit_optuna``; the knobs are documented in ``config.py``."""

    def __init__(
        self,
        study_name: str,
        storage: str | None,
        direction: str,
        n_trials: int,
        n_jobs: int,
        retry_failed: bool,
        sampler: DictConfig | None,
        pruner: DictConfig | None,
        params: DictConfig | None,
    ) -> None:
        if n_trials < 1 or n_jobs < 1:
            raise ValueError(f"hydra.sweeper: n_trials={n_trials} and n_jobs={n_jobs} must be >= 1")
        self.study_name = study_name
        self.storage = storage
        self.direction = direction
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.retry_failed = retry_failed
        self.sampler_config = sampler
        # The pruner runs in the jobs (Trial.should_prune); see tasks.harness.optuna_pruning.
        self.pruner_config = pruner
        self.params = dict(params or {})

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> list[JobReturn]:
        """Run trials until the study holds ``n_trials`` finished ones (at most ``n_trials``
        launched by this call); ``arguments`` are the command line's overrides."""
        searched, fixed = search_space(
            [*(f"{key}={value}" for key, value in self.params.items()), *arguments]
        )
        study = open_study(self.study_name, open_storage(self.storage), self.direction)
        study.sampler = self.sampler(len(study.get_trials(deepcopy=False)))
        if self.retry_failed:
            requeue_unfinished(study)
        log.info(
            "study %s (%s, %s): %d of %d trials finished; searching %s",
            study.study_name,
            self.storage or "in memory",
            study.direction.name.lower(),
            finished_trials(study),
            self.n_trials,
            sorted(searched),
        )
        returns: list[JobReturn] = []
        while (size := self.batch_size(study, launched=len(returns))) > 0:
            trials = [study.ask(searched) for _ in range(size)]
            batch = [[*fixed, *trial_overrides(trial.params)] for trial in trials]
            for trial in trials:
                trial.set_user_attr(RUN_DIR, self.job_dir(trial.number))
            try:
                self.validate_batch_is_legal(batch)
                results = self.launch(trials, batch)
            except BaseException:
                for trial in trials:
                    study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                raise
            for trial, result in zip(trials, results, strict=True):
                tell(study, trial, result)
            returns += results
        write_results(study, Path(self.config.hydra.sweep.dir) / RESULTS_FILE, self.storage)
        return returns

    def sampler(self, n_existing: int) -> optuna.samplers.BaseSampler:
        """The configured sampler; a resumed study shifts its seed by the trials it holds, so
        the new trials do not repeat the first run's draws."""
        if self.sampler_config is None:
            return optuna.samplers.TPESampler()
        config = OmegaConf.to_container(self.sampler_config, resolve=True)
        if config.get("seed") is not None:
            config["seed"] += n_existing
        return hydra.utils.instantiate(config)

    def batch_size(self, study: optuna.Study, launched: int) -> int:
        return min(self.n_jobs, self.n_trials - finished_trials(study), self.n_trials - launched)

    def job_dir(self, number: int) -> str:
        """The directory Hydra gives job ``number``: ``hydra.sweep.dir``/``hydra.sweep.subdir``."""
        config = copy.deepcopy(self.config)
        with open_dict(config):
            config.hydra.job.num = number
        return str(Path(config.hydra.sweep.dir) / str(config.hydra.sweep.subdir))

    def launch(
        self, trials: Sequence[optuna.Trial], batch: Sequence[Sequence[str]]
    ) -> list[JobReturn]:
        """One launch for consecutive trial numbers (job number = trial number); trials of
        another process interleaved with ours are launched one by one."""
        first = trials[0].number
        if [t.number for t in trials] == list(range(first, first + len(trials))):
            return list(self.launcher.launch(batch, initial_job_idx=first))
        return [
            result
            for trial, overrides in zip(trials, batch, strict=True)
            for result in self.launcher.launch([overrides], initial_job_idx=trial.number)
        ]


def tell(study: optuna.Study, trial: optuna.Trial, result: JobReturn) -> None:
    """Record one job's outcome as the trial's state and value."""
    # The field, not the return_value property: that prints an error for every exception,
    # pruning included.
    outcome: Any = result._return_value
    if result.status == JobStatus.COMPLETED and _is_number(outcome):
        study.tell(trial, float(outcome))
    elif isinstance(outcome, optuna.TrialPruned):
        study.tell(trial, state=TrialState.PRUNED)
        log.info("trial %d pruned: %s", trial.number, outcome)
    else:
        study.tell(trial, state=TrialState.FAIL)
        reason = "returned no finite value" if result.status == JobStatus.COMPLETED else "failed"
        log.warning("trial %d %s: %r", trial.number, reason, outcome)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def write_results(study: optuna.Study, path: Path, storage: str | None) -> None:
    """``optimization_results.yaml``: the study's name, storage, trial counts and best trial."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = study.best_trial if complete else None
    results = {
        "study_name": study.study_name,
        "storage": storage,
        "direction": study.direction.name.lower(),
        "trials": {
            state.name: sum(t.state == state for t in trials)
            for state in TrialState
            if any(t.state == state for t in trials)
        },
        "best": None
        if best is None
        else {
            "number": best.number,
            "value": best.value,
            "params": best.params,
            "run_dir": best.user_attrs.get(RUN_DIR),
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(results, sort_keys=False))
    log.info("study %s: %s", study.study_name, results["trials"])
    if best is not None:
        log.info("best trial %d: %s=%s %s", best.number, "value", best.value, best.params)
