"""glibc's malloc keeps large blocks in its heap once ``host_memory_reuse_mb`` is set."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

import scripts.bench_host_memory as bench
from tasks.harness.errors import ConfigError
from tasks.harness.host_memory import reuse_freed_host_memory
from tests.harness.conftest import REPO, toy_overrides

# A fresh process (the thresholds stay set for the rest of a process): how many blocks
# glibc maps by itself (mallinfo2().hblks) while a 64 MiB block is allocated.
MAPPED_BLOCKS = textwrap.dedent(
    """
    import ctypes, sys
    from tasks.harness.host_memory import reuse_freed_host_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    limit = None if sys.argv[1] == "null" else int(sys.argv[1])
    print(reuse_freed_host_memory(limit))
    before = libc.mallinfo2().hblks
    block = libc.malloc(64 << 20)
    print(libc.mallinfo2().hblks - before)
    libc.free(block)
    """
)


def mapped_blocks_of_a_64_mib_block(limit: str) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", MAPPED_BLOCKS, limit],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_a_64_mib_block_comes_from_the_heap_with_the_limit_and_is_mapped_without() -> None:
    assert mapped_blocks_of_a_64_mib_block("null") == ("False", 1)
    assert mapped_blocks_of_a_64_mib_block("1024") == ("True", 0)


def test_a_limit_below_one_mib_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="host_memory_reuse_mb=0"):
        reuse_freed_host_memory(0)


def test_the_benchmark_runs_both_settings_in_alternating_order(tmp_path, capsys) -> None:
    bench.main(["--steps", "3", "--repeats", "2", "--reuse-mb", "64", *toy_overrides(tmp_path)])
    lines = capsys.readouterr().out.splitlines()
    runs = [line.split(":")[0] for line in lines if line.startswith("run ")]
    assert runs == [
        "run 1, host_memory_reuse_mb=null",
        "run 1, host_memory_reuse_mb=64",
        "run 2, host_memory_reuse_mb=64",
        "run 2, host_memory_reuse_mb=null",
    ]
    rates = [float(line.split(": ")[1].split()[0]) for line in lines if line.startswith("run ")]
    assert all(rate > 0 for rate in rates)
    assert lines[-1].startswith("ratio: ") and lines[-1].endswith("x")


def test_the_benchmark_names_a_run_that_ended_before_its_steps(tmp_path) -> None:
    # 48 toy items in batches of 8 make 6 steps an epoch: 2 epochs end at 12 steps.
    with pytest.raises(SystemExit, match="trained 12 steps, not --steps 50"):
        bench.main(["--steps", "50", "--repeats", "1", *toy_overrides(tmp_path)])
