"""DDP inside Hydra sweeps: Lightning's extra ranks run the job that started them, in its directory.

Lightning's ``strategy=ddp`` starts ranks ``1..N-1`` by running the command line again
(``sys.argv``) with ``hydra.run.dir=<hydra.run.dir>`` appended. In a multirun job both belong to
the sweep: each extra rank would start the whole sweep again, in new directories. For the length
of one job, :func:`ddp_ranks_rerun_this_job` makes that command a single run of this job:

    python <script> <the job's overrides> <the sweep's hydra.* overrides> hydra.mode=RUN
        hydra.sweep.dir=<sweep dir> hydra.job.num=<job number> hydra.run.dir=<job dir> ...

Afterwards it clears the DDP environment Lightning left in the process (``LOCAL_RANK`` would make
the next job believe its ranks were already started) and the process group, so that the next job
of the sweep starts its own ranks.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch.distributed
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf, read_write

import __main__

# Set by Lightning's subprocess launcher in the launching process.
DDP_ENVIRONMENT = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
# Set here or appended by Lightning; dropped from the sweep's own hydra.* overrides.
CHILD_KEYS = (
    "hydra.mode",
    "hydra.sweep.dir",
    "hydra.job.num",
    "hydra.run.dir",
    "hydra.job.name",
    "hydra.output_subdir",
)


def single_job_command(script: Path) -> list[str]:
    """``sys.argv`` that runs the current multirun job alone, in its own directory."""
    hydra = HydraConfig.get()
    sweep_overrides = [o for o in hydra.overrides.hydra if o.split("=", 1)[0] not in CHILD_KEYS]
    return [
        str(script),
        *hydra.overrides.task,
        *sweep_overrides,
        "hydra.mode=RUN",
        f"hydra.sweep.dir={hydra.sweep.dir}",
        f"hydra.job.num={hydra.job.num}",
    ]


@contextmanager
def ddp_ranks_rerun_this_job(script: str | Path) -> Iterator[None]:
    """Within a multirun job: Lightning's extra DDP ranks run this job (not the sweep) in its
    output directory; the job's DDP environment and process group end with it.

    ``script`` is the entry point (``__file__`` of ``scripts/train.py``): under the joblib and
    submitit launchers the job runs in a worker process whose ``sys.argv`` is the worker's.
    """
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        yield
        return
    hydra = HydraConfig.get()
    # unresolved: reading hydra.run.dir would create a new run directory (resolvers.train_run_dir)
    saved_run_dir = OmegaConf.to_container(hydra.run)["dir"]
    saved_argv, saved_spec = sys.argv, __main__.__spec__
    saved_environment = {key: os.environ.get(key) for key in DDP_ENVIRONMENT}
    had_process_group = torch.distributed.is_available() and torch.distributed.is_initialized()
    sys.argv = single_job_command(Path(script).resolve())
    # Lightning runs `python -m <__main__.__spec__.name>` when set: the script path instead.
    __main__.__spec__ = None
    with read_write(hydra.run):
        hydra.run.dir = hydra.runtime.output_dir
    try:
        yield
    finally:
        sys.argv, __main__.__spec__ = saved_argv, saved_spec
        with read_write(hydra.run):
            hydra.run.dir = saved_run_dir
        for key, value in saved_environment.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if not had_process_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
