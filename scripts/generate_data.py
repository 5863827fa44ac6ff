"""Generate (or check the cache of) a task's corpus: ``python scripts/generate_data.py task=... [data=...]``.

Composes ``conf/generate_data.yaml`` (the training config) and runs the datamodule's ``prepare_data``.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from tasks.harness.errors import exit_on_error
from tasks.harness.resolvers import register_resolvers
from tasks.harness.run_config import validate_run_config
from tasks.harness.train import build_datamodule

register_resolvers()
# Absolute, so the entry point also works as an imported module / console script.
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="generate_data")
@exit_on_error
def main(cfg: DictConfig) -> None:
    validate_run_config(cfg)
    build_datamodule(cfg.data).prepare_data()


if __name__ == "__main__":
    main()
