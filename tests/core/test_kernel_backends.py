"""Loading of the C++ kernels: lazy, and a failed build falls back to the PyTorch loops."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from lstmkit.kernels import cpp_kernels, extension, python_kernels


def test_importing_lstmkit_does_not_build_or_load_the_extension() -> None:
    code = (
        "import sys, lstmkit, lstmkit.kernels; "
        "assert 'torch.utils.cpp_extension' not in sys.modules; "
        "assert not hasattr(__import__('torch').ops.lstmkit, 'lstm_forward_loop')"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture
def fresh_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extension, "_extension", None)
    monkeypatch.setattr(extension, "_build_error", None)
    monkeypatch.setattr(extension, "_backend", "auto")


def _failing_build() -> None:
    raise OSError("compiler 'c++' not found\nsecond line of the log")


@pytest.mark.usefixtures("fresh_loader")
def test_failed_build_warns_once_and_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extension, "_build", _failing_build)
    with pytest.warns(RuntimeWarning, match=r"unavailable \(OSError: second line of the log\)"):
        assert extension.kernels_for(torch.device("cpu")) is python_kernels
    # The failure is remembered: no second build attempt and no second warning.
    monkeypatch.setattr(extension, "_build", lambda: pytest.fail("rebuilt"))
    assert extension.kernels_for(torch.device("cpu")) is python_kernels


@pytest.mark.usefixtures("fresh_loader")
def test_failed_build_raises_with_cpp_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extension, "_build", _failing_build)
    extension.set_backend("cpp")
    with pytest.raises(RuntimeError, match="C\\+\\+ LSTM kernels unavailable"):
        extension.kernels_for(torch.device("cpu"))


@pytest.mark.usefixtures("fresh_loader")
def test_non_cpu_devices_never_build_the_cpp_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """CUDA gets the Triton kernels (see test_triton_kernels), other devices the PyTorch
    loops."""
    monkeypatch.setattr(extension, "_build", lambda: pytest.fail("built for a GPU tensor"))
    monkeypatch.setattr(extension, "_backend", "auto")
    assert extension.kernels_for(torch.device("cuda")) is extension.load_triton_kernels()
    assert extension.kernels_for(torch.device("meta")) is python_kernels


def test_build_asks_for_openmp_and_retries_without(monkeypatch: pytest.MonkeyPatch) -> None:
    """at::parallel_for splits the C++ loops across threads only when compiled with OpenMP;
    a compiler without it still gets a (serial) build."""
    extension.load_extension(strict=True)  # the operators exist, as after a real build
    calls = []

    def fake_load(load, cflags: list[str], ldflags: list[str]) -> None:
        calls.append((cflags, ldflags))
        if "-fopenmp" in cflags:
            raise OSError("unsupported option '-fopenmp'")

    monkeypatch.setattr(extension, "_load", fake_load)
    kernels = extension._build()
    assert kernels is cpp_kernels
    assert hasattr(torch.ops.lstmkit, "lstm_forward_loop")
    if torch.backends.openmp.is_available():
        assert calls[0][0][-1] == "-fopenmp" and calls[0][1] == ["-fopenmp"]
        assert len(calls) == 2
    assert "-fopenmp" not in calls[-1][0] and calls[-1][1] == []
