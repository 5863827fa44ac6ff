"""Choice of the time-loop backend: the C++ extension on CPU, built lazily, the Triton
kernels on CUDA, or the PyTorch loops.

The extension ``lstmkit/csrc/lstm_layer.cpp`` is compiled with
:func:`torch.utils.cpp_extension.load` on the first call that needs it (never at import),
into torch's extension cache (``$TORCH_EXTENSIONS_DIR``, default
``~/.cache/torch_extensions``), where later processes find it ready. Concurrent builds are
serialised by torch's lock file in that directory; a lock older than ten minutes, left by a
killed build, is removed with a warning instead of being waited for. When no compiler or ninja is available, or
the build fails, a one-line warning names the reason and the PyTorch kernels are used.

The backend is ``"auto"`` (C++ on CPU, Triton on CUDA when ``triton`` imports, PyTorch
elsewhere), ``"cpp"`` (C++ on CPU, a build failure raises; PyTorch elsewhere), ``"triton"``
(Triton on every device, which needs ``TRITON_INTERPRET=1`` for CPU tensors; an import
failure raises) or ``"python"`` (PyTorch everywhere); it is read from the environment
variable ``LSTMKIT_KERNEL_BACKEND`` and can be changed with :func:`set_backend`. The Triton
kernels module (:mod:`lstmkit.kernels.triton_kernels`) is imported on first use only.
Every backend implements :class:`lstmkit.kernels.interface.LoopKernels`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import warnings
from pathlib import Path
from types import ModuleType

import torch

from lstmkit.kernels import cpp_kernels, python_kernels
from lstmkit.kernels.interface import LoopKernels

BACKEND_ENV = "LSTMKIT_KERNEL_BACKEND"
BACKENDS = ("auto", "cpp", "python", "triton")
SOURCE = Path(__file__).resolve().parents[1] / "csrc" / "lstm_layer.cpp"
# Age from which a build lock is taken to be left by a killed build (builds take 20-110 s).
STALE_LOCK_SECONDS = 600.0

_backend = os.environ.get(BACKEND_ENV, "auto")
_extension: ModuleType | None = None
_build_error: str | None = None
_triton_kernels: ModuleType | None = None
_triton_error: str | None = None


def set_backend(name: str) -> None:
    """Select ``"auto"``, ``"cpp"``, ``"python"`` or ``"triton"`` time loops for later
    calls."""
    global _backend
    if name not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV} / set_backend: expected one of {BACKENDS}, got {name!r}")
    _backend = name


def get_backend() -> str:
    """The configured backend name (one of :data:`BACKENDS`)."""
    if _backend not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV}: expected one of {BACKENDS}, got {_backend!r}")
    return _backend


def kernels_for(device: torch.device) -> LoopKernels:
    """The backend that runs the time loops for tensors on ``device``."""
    backend = get_backend()
    if backend == "triton":
        return load_triton_kernels(strict=True)
    if backend == "auto" and device.type == "cuda":
        kernels = load_triton_kernels()
        return python_kernels if kernels is None else kernels
    if backend == "python" or device.type != "cpu":
        return python_kernels
    extension = load_extension(strict=backend == "cpp")
    return python_kernels if extension is None else extension


def load_triton_kernels(strict: bool = False) -> ModuleType | None:
    """Import (first call only) :mod:`lstmkit.kernels.triton_kernels`; ``None`` if ``triton``
    cannot be imported, or ``RuntimeError`` with ``strict``."""
    global _triton_kernels, _triton_error
    if _triton_kernels is None and _triton_error is None:
        try:
            from lstmkit.kernels import triton_kernels
        except ImportError as error:  # a CPU-only torch build ships no triton
            _triton_error = _one_line(error)
            if not strict:
                warnings.warn(
                    f"lstmkit: Triton LSTM kernels unavailable ({_triton_error}); "
                    "using the slower PyTorch kernels",
                    RuntimeWarning,
                    stacklevel=3,
                )
        else:
            _triton_kernels = triton_kernels
    if _triton_kernels is None and strict:
        raise RuntimeError(
            f"{BACKEND_ENV}=triton: the Triton LSTM kernels are unavailable ({_triton_error}); "
            "install triton or choose another backend"
        )
    return _triton_kernels


def load_extension(strict: bool = False) -> ModuleType | None:
    """Build (first call only) and load the C++ kernels; ``None`` if that is impossible.

    The result is :mod:`lstmkit.kernels.cpp_kernels`, whose functions call the operators
    ``torch.ops.lstmkit.lstm_forward_loop`` / ``lstm_backward_loop``.

    With ``strict`` a failed build raises ``RuntimeError`` instead of warning.
    """
    global _extension, _build_error
    if _extension is None and _build_error is None:
        try:
            _extension = _build()
        except Exception as error:  # a compiler, ninja or build failure: fall back
            _build_error = _one_line(error)
            if not strict:
                warnings.warn(
                    f"lstmkit: C++ LSTM kernels unavailable ({_build_error}); "
                    "using the slower PyTorch kernels",
                    RuntimeWarning,
                    stacklevel=3,
                )
    if _extension is None and strict:
        raise RuntimeError(f"lstmkit: C++ LSTM kernels unavailable ({_build_error})")
    return _extension


def _build() -> ModuleType:
    # Importing cpp_extension logs a CUDA_HOME notice on machines without CUDA; this
    # build is CPU-only, so the notice is noise.
    cpp_logger = logging.getLogger("torch.utils.cpp_extension")
    level = cpp_logger.level
    cpp_logger.setLevel(logging.ERROR)
    try:
        from torch.utils import cpp_extension
    finally:
        cpp_logger.setLevel(level)

    flags = ["-O3", *_vector_flags(torch.backends.cpu.get_cpu_capability())]
    # at::parallel_for is an inline `#pragma omp parallel` when torch uses OpenMP: without
    # -fopenmp the pointwise loops would run on one thread. The OpenMP runtime linked is
    # the libgomp.so.1 that libtorch has already loaded.
    openmp = ["-fopenmp"] if torch.backends.openmp.is_available() else []
    try:
        _load(cpp_extension, [*flags, *openmp], openmp)
    except Exception:
        if not openmp:
            raise
        _load(cpp_extension, flags, [])  # a compiler without OpenMP: serial pointwise loops
    return cpp_kernels


def _vector_flags(capability: str) -> list[str]:
    """Compiler flags for ATen's vector types at torch's CPU capability.

    Compiled for AVX2 or AVX512, ``at::vec::Vectorized`` uses those intrinsics and the Sleef
    functions that libtorch exports for the same capability (the flags are torch's own for
    its kernels of that capability); otherwise it falls back to plain loops.
    """
    if capability == "AVX512":
        isa = ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma"]
    elif capability == "AVX2":
        isa = ["-mavx2", "-mfma"]
    else:
        return []
    return [*isa, f"-DCPU_CAPABILITY_{capability}", f"-DCPU_CAPABILITY={capability}"]


def _load(cpp_extension: ModuleType, cflags: list[str], ldflags: list[str]) -> None:
    """Build (or find in the cache) and load the extension with these flags."""
    # One build directory per source and flags: checkouts with different sources share the
    # cache without rebuilding over each other.
    flags = " ".join(cflags + ldflags).encode()
    digest = hashlib.sha256(SOURCE.read_bytes() + flags).hexdigest()[:12]
    name = f"lstmkit_lstm_layer_{digest}"
    # Where load builds: torch's own (private) helper; without it the lock check is skipped.
    build_directory = getattr(cpp_extension, "_get_build_directory", None)
    if build_directory is not None:
        remove_stale_lock(Path(build_directory(name, verbose=False)))
    cpp_extension.load(
        name=name,
        sources=[str(SOURCE)],
        extra_cflags=cflags,
        extra_ldflags=ldflags,
        with_cuda=False,
        is_python_module=False,
        verbose=False,
    )


def remove_stale_lock(build_directory: Path, max_age_s: float = STALE_LOCK_SECONDS) -> bool:
    """Remove ``build_directory/lock`` when it is older than ``max_age_s``; True if removed.

    torch's build lock is a file that a build deletes when it ends; a build killed halfway
    leaves it behind, and every later process then waits for it forever. A build takes
    seconds to two minutes, so a lock untouched for longer than ``max_age_s`` has no build
    behind it.
    """
    lock = build_directory / "lock"
    try:
        age = time.time() - lock.stat().st_mtime
    except FileNotFoundError:
        return False
    if age <= max_age_s:
        return False
    warnings.warn(
        f"lstmkit: removing {lock}, left {age / 60:.0f} minutes ago by an interrupted build "
        "of the C++ LSTM kernels",
        RuntimeWarning,
        stacklevel=2,
    )
    lock.unlink(missing_ok=True)
    return True


def _one_line(error: Exception) -> str:
    """The exception's type and last message line (compiler logs are long)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[-1] if lines else ''}"
