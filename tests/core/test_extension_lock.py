"""A build lock left by a killed build is removed instead of being waited for forever."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from lstmkit.kernels.extension import STALE_LOCK_SECONDS, remove_stale_lock


def test_stale_lock_is_removed_with_a_warning(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    lock.touch()
    old = time.time() - STALE_LOCK_SECONDS - 60
    os.utime(lock, (old, old))
    with pytest.warns(RuntimeWarning, match="interrupted build"):
        assert remove_stale_lock(tmp_path)
    assert not lock.exists()


def test_lock_of_a_running_build_is_kept(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    lock.touch()
    assert not remove_stale_lock(tmp_path)
    assert lock.exists()
    assert not remove_stale_lock(tmp_path / "no_build_yet")
