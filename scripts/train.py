"""Train a task model: ``python scripts/train.py [task=speech] [key=value ...]``.

Composes ``conf/train.yaml``; ``--help`` lists the config groups, ``--cfg job`` prints every knob.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from tasks.harness.errors import exit_on_error
from tasks.harness.multirun_ddp import ddp_ranks_rerun_this_job
from tasks.harness.optuna_pruning import pruned_trial_ends_quietly_off_rank_zero
from tasks.harness.resolvers import register_resolvers
from tasks.harness.run_config import refusing_ungrouped_encoder
from tasks.harness.train import train

register_resolvers()
# Absolute, so the entry point also works as an imported module / console script.
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


@refusing_ungrouped_encoder(CONF_DIR, "train")
@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
@exit_on_error
def main(cfg: DictConfig) -> float | None:
    with ddp_ranks_rerun_this_job(__file__), pruned_trial_ends_quietly_off_rank_zero():
        return train(cfg)


if __name__ == "__main__":
    main()
