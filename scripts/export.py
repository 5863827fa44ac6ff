"""Export a checkpoint's model: ``python scripts/export.py ckpt=... [format=onnx|torchscript]``.

Writes the task's graphs and a ``manifest.json`` (vocabulary or labels, feature settings,
input and output names and shapes) to ``output=<dir>`` (default ``<run>/export/<format>``).
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from tasks.harness.errors import exit_on_error
from tasks.harness.export import export
from tasks.harness.resolvers import register_resolvers

register_resolvers()
# Absolute, so the entry point also works as an imported module / console script.
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="export")
@exit_on_error
def main(cfg: DictConfig) -> Path:
    return export(cfg)


if __name__ == "__main__":
    main()
