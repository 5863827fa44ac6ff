"""Predict with a checkpoint: ``python scripts/predict.py ckpt=... input=<file|folder> | text="..."``.

Writes one JSON line per input to stdout or ``output=<file>``.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from tasks.harness.errors import exit_on_error
from tasks.harness.predict import predict
from tasks.harness.resolvers import register_resolvers

register_resolvers()
# Absolute, so the entry point also works as an imported module / console script.
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="predict")
@exit_on_error
def main(cfg: DictConfig) -> int:
    return predict(cfg)


if __name__ == "__main__":
    main()
