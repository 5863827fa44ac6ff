"""The sweep's study: where it is stored, how a re-run resumes it, and how a job reaches its trial.

A job may run in another process than the sweeper (joblib, submitit, SLURM), so the trial never
travels as an object: the job opens the same storage, finds its trial by ``(study name, trial
number)`` and reports to it. The trial number is the job's ``hydra.job.num``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import optuna
from optuna.pruners import BasePruner
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.study import StudyDirection
from optuna.trial import TrialState

log = logging.getLogger(__name__)

# task.monitor_mode spellings next to Optuna's.
DIRECTIONS = {"min": "minimize", "max": "maximize", "minimize": "minimize", "maximize": "maximize"}
# user attributes the sweeper sets on each trial
RUN_DIR = "run_dir"
RETRY_OF = "retry_of"


def open_storage(spec: str | None) -> BaseStorage | None:
    """The study's storage from ``hydra.sweeper.storage``.

    ``null``: in memory (no resume; jobs in other processes cannot report, so no pruning).
    ``<dialect>://...``: an SQLAlchemy database URL (Optuna's RDBStorage). Anything else: a journal
    file, appended to under a file lock, so several processes (parallel trials, DDP ranks, a
    resumed sweep) can write to it at once.
    """
    if spec is None:
        return None
    if "://" in spec:
        return RDBStorage(spec)
    path = Path(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def study_direction(direction: str) -> str:
    """``minimize``/``maximize`` from either Optuna's or ``task.monitor_mode``'s spelling."""
    if direction not in DIRECTIONS:
        raise ValueError(
            f"hydra.sweeper.direction={direction!r}: use one of {sorted(DIRECTIONS)} "
            "(the default follows task.monitor_mode)"
        )
    return DIRECTIONS[direction]


def open_study(
    name: str,
    storage: BaseStorage | None,
    direction: str,
    sampler: optuna.samplers.BaseSampler | None = None,
) -> optuna.Study:
    """Create the study, or load it when the storage already holds one of this name."""
    direction = study_direction(direction)
    study = optuna.create_study(
        study_name=name, storage=storage, sampler=sampler, direction=direction, load_if_exists=True
    )
    if study.direction != StudyDirection[direction.upper()]:
        raise ValueError(
            f"study {name!r} in {storage} was created to {study.direction.name.lower()}, not to "
            f"{direction}: pass another hydra.sweeper.study_name for a new study"
        )
    return study


def requeue_unfinished(study: optuna.Study) -> list[int]:
    """Queue once more the parameters of every trial an earlier sweep did not finish.

    A trial still ``RUNNING`` when the sweep starts was left by a sweep that was killed: it is
    marked ``FAIL`` first. Each ``FAIL`` trial is retried once (the retry carries the user
    attribute ``retry_of``); a failed retry is retried again by the next re-run. Assumes no other
    sweeper is working on the study at the same time. Returns the numbers of the retried trials.
    """
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get(RETRY_OF) for t in trials}
    numbers = []
    for trial in trials:
        if trial.state == TrialState.RUNNING:
            study.tell(trial.number, state=TrialState.FAIL)
        elif trial.state != TrialState.FAIL:
            continue
        if trial.number not in retried:
            study.enqueue_trial(trial.params, user_attrs={RETRY_OF: trial.number})
            numbers.append(trial.number)
    if numbers:
        log.info("study %s: retrying unfinished trials %s", study.study_name, numbers)
    return numbers


def finished_trials(study: optuna.Study) -> int:
    """Trials that count towards ``n_trials``: completed or pruned."""
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def load_trial(
    storage: str | None, study_name: str, number: int, pruner: BasePruner | None = None
) -> optuna.Trial:
    """The running trial ``number`` of ``study_name``, to report to from a job's process.

    ``pruner`` must be the sweep's pruner: :meth:`optuna.Trial.should_prune` asks the study's.
    """
    if storage is None:
        raise ValueError(
            "hydra.sweeper.storage is null: a job cannot reach an in-memory study; set a journal "
            "path (the default) or a database URL"
        )
    backend = open_storage(storage)
    study = optuna.load_study(study_name=study_name, storage=backend, pruner=pruner)
    study_id = backend.get_study_id_from_name(study_name)
    trial_id = backend.get_trial_id_from_study_id_trial_number(study_id, number)
    state = backend.get_trial(trial_id).state
    if state != TrialState.RUNNING:
        raise ValueError(
            f"trial {number} of study {study_name!r} is {state.name}, not RUNNING: only the "
            "sweeper starts trials (run the sweep again to resume it)"
        )
    return optuna.Trial(study, trial_id)
