"""``hydra/sweeper=lstmkit_optuna``: the sweeper's knobs (conf/hparams_search/optuna.yaml sets them)."""

# No `from __future__ import annotations`: Hydra executes this module before registering it in
# sys.modules, where dataclasses would look the string annotations up.
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.lstmkit_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    # The sweeper instantiates sampler and pruner itself (the sampler's seed moves on when a
    # study resumes), so Hydra must hand them over as configs.
    _recursive_: bool = False

    study_name: str = "study"
    # null: in memory; a path: Optuna journal file; "<dialect>://...": database URL
    storage: str | None = None
    # minimize | maximize (also min | max, the spelling of task.monitor_mode)
    direction: str = "minimize"
    # the study is done when it holds this many COMPLETE or PRUNED trials; one run of the sweep
    # launches at most this many
    n_trials: int = 20
    # trials asked and launched together (run in parallel by the joblib/submitit launchers)
    n_jobs: int = 1
    # a re-run retries the trials an earlier run left FAIL or RUNNING (killed), once each
    retry_failed: bool = True
    sampler: Any = field(
        default_factory=lambda: {"_target_": "optuna.samplers.TPESampler", "seed": None}
    )
    # null: no pruning; else e.g. {_target_: optuna.pruners.MedianPruner, n_warmup_steps: 1}
    pruner: Any = None
    # search space in Hydra's sweep syntax: {key: "interval(1e-4, 1e-2)" | "choice(a, b)" | ...}
    params: dict[str, str] = field(default_factory=dict)


ConfigStore.instance().store(
    group="hydra/sweeper", name="lstmkit_optuna", node=OptunaSweeperConf, provider="lstmkit"
)
