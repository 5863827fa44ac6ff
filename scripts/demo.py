"""Serve a web page for a checkpoint's task: ``python scripts/demo.py ckpt=... [port=8000]``.

Upload or record audio (speech: transcript with word timings; spoken language ID), type text
(written language ID) or upload an image (captioning: caption and attention map).
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from tasks.harness.demo import serve
from tasks.harness.errors import exit_on_error
from tasks.harness.resolvers import register_resolvers

register_resolvers()
# Absolute, so the entry point also works as an imported module / console script.
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="demo")
@exit_on_error
def main(cfg: DictConfig) -> None:
    serve(cfg)


if __name__ == "__main__":
    main()
