"""Reuse of freed host memory by glibc's malloc, for training steps that allocate large CPU tensors.

glibc serves a block above its mmap threshold (adjusted at run time, at most 32 MiB) with a
fresh ``mmap`` and unmaps it again on ``free``. A training step allocates and frees tensors of
the same sizes every step (activations, a 32 MiB embedding gradient), so each step faults in
every page of those blocks anew (about 0.9 ms per MiB on a 2-core virtual machine). With both
the mmap and the trim threshold raised, such blocks come from the heap and freed ones stay
there to be reused. The numerics do not change; what the steps gain depends on the machine
and the run (docs/results.md, "Host memory reuse in training").
"""

from __future__ import annotations

import ctypes
import logging
import platform

from tasks.harness.errors import ConfigError

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # mallopt parameters (glibc's malloc.h)
M_MMAP_THRESHOLD = -3


def reuse_freed_host_memory(limit_mb: int | None) -> bool:
    """Keep blocks below ``limit_mb`` MiB in glibc's heap, and up to ``limit_mb`` MiB of freed
    heap memory mapped, for the rest of the process (and the processes it forks).

    Args:
        limit_mb: the mmap and trim threshold in MiB; ``None`` leaves glibc's defaults.

    Raises:
        ConfigError: for a value below 1.

    Returns:
        Whether the thresholds were set: ``False`` for ``None``, outside glibc (macOS, musl),
        or when this glibc refuses the value (logged).
    """
    if limit_mb is not None and limit_mb < 1:
        raise ConfigError(
            f"host_memory_reuse_mb={limit_mb}: give a positive number of MiB, or null"
        )
    if limit_mb is None or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)  # the C library this process already runs on
    size = limit_mb << 20
    if libc.mallopt(M_MMAP_THRESHOLD, size) and libc.mallopt(M_TRIM_THRESHOLD, size):
        return True
    log.warning(
        "host_memory_reuse_mb=%d: glibc refused the malloc thresholds; large CPU tensors are "
        "mapped afresh on every allocation (try a smaller value, e.g. 32)",
        limit_mb,
    )
    return False
