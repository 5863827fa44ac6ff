"""The Triton kernels compile to GPU code (sm_90 cubin, Triton's bundled ptxas) without a GPU.

The interpreter (tests/core/test_triton_kernels.py) checks what the kernels compute but
accepts code the compiler rejects (types changing across loop iterations, names bound in
only one branch, ...). Here every variant combination, forward and backward, in float32 and
bfloat16, goes through ``triton.compile``. The compilation runs in a child process: this
process imported triton in interpreter mode (tests/conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from tests.core.test_kernel_layer import VARIANTS

TARGET_ARCH = 90  # H100
POINTER_TYPES = {torch.float32: "*fp32", torch.bfloat16: "*bf16", torch.float16: "*fp16"}


def compile_kernels(dtype_name: str) -> list[str]:
    """Compile both kernels for every variant of ``VARIANTS`` in ``dtype_name``; returns one
    line per kernel. Run in a process without ``TRITON_INTERPRET``."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from lstmkit.kernels import triton_kernels
    from tests.core.test_triton_kernels import _loop_inputs, _run_loops

    launches = []
    triton_kernels._check_device = lambda x: None  # the buffers are never read
    triton_kernels._launch = lambda kernel, batch, *args, **constants: launches.append(
        (kernel, args, constants)
    )
    lines = []
    for variant, features in sorted(VARIANTS.items()):
        loop_args, cotangents = _loop_inputs(features, 3, 17, 256, 128, getattr(torch, dtype_name))
        launches.clear()
        _run_loops(triton_kernels, loop_args, cotangents)
        for kernel, args, constants in launches:
            signature, constexprs = _signature(kernel, args, constants)
            source = ASTSource(kernel, signature, constexprs)
            compiled = triton.compile(source, target=GPUTarget("cuda", TARGET_ARCH, 32))
            lines.append(f"{variant} {dtype_name} {kernel.__name__} {len(compiled.asm['cubin'])}")
    return lines


def _signature(kernel, args: tuple, constants: dict) -> tuple[dict, dict]:
    """``triton.compile``'s signature and constexpr values for a launch's arguments."""
    signature, constexprs = {}, dict(constants)
    for param, value in zip(kernel.params, args, strict=False):
        if param.is_constexpr:
            constexprs[param.name] = value
        elif isinstance(value, torch.Tensor):
            signature[param.name] = POINTER_TYPES[value.dtype]
        else:
            signature[param.name] = "fp32" if isinstance(value, float) else "i32"
    signature.update(dict.fromkeys(constexprs, "constexpr"))
    return signature, constexprs


@pytest.mark.slow
@pytest.mark.parametrize("dtype_name", ["float32", "bfloat16"])
def test_kernels_compile_for_sm90(dtype_name: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    code = (
        f"from {__name__} import compile_kernels\n"
        f"print(*compile_kernels({dtype_name!r}), sep='\\n')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    compiled = result.stdout.splitlines()
    assert len(compiled) == 2 * len(VARIANTS)  # forward and backward of each variant
    assert all(int(line.split()[-1]) > 0 for line in compiled)  # cubin bytes
