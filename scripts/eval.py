"""Evaluate a checkpoint on its test split: ``python scripts/eval.py ckpt=<file|run dir|last> [task=...]``."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from tasks.harness.errors import exit_on_error
from tasks.harness.evaluate import evaluate
from tasks.harness.resolvers import register_resolvers
from tasks.harness.run_config import refusing_ungrouped_encoder

register_resolvers()
# Absolute, so the entry point also works as an imported module / console script.
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


@refusing_ungrouped_encoder(CONF_DIR, "eval")
@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="eval")
@exit_on_error
def main(cfg: DictConfig) -> dict[str, float]:
    return evaluate(cfg)


if __name__ == "__main__":
    main()
