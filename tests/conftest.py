"""Session set-up shared by every test directory.

Triton decides when a function is decorated with ``triton.jit`` (its own standard library
included, at ``import triton``) whether it is compiled or interpreted, so Triton's CPU
interpreter must be switched on before anything imports triton: Lightning and
``torch._inductor`` do, during collection. Without CUDA the Triton LSTM kernels
(tests/core/test_triton_kernels.py) therefore run interpreted on CPU tensors; with CUDA the
variable is left alone and the same tests run the compiled kernels.
"""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
