"""The C++ time loops (``lstmkit/csrc/lstm_layer.cpp``) as a backend of
:mod:`lstmkit.kernels.interface`.

The loops are the operators ``torch.ops.lstmkit.lstm_forward_loop`` and
``lstm_backward_loop``, which take the fields of the interface's tuples in their order
(:meth:`~lstmkit.kernels.interface.LoopSaved.flat` for the backward loop's) and return the
forward buffers as ``out, proj_in`` and the :class:`~lstmkit.kernels.interface.SavedBuffers`. They
exist once :func:`lstmkit.kernels.extension.load_extension` has built and loaded the
extension, which is how this module is reached.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lstmkit.kernels.interface import (
    ForwardBuffers,
    LoopGradients,
    LoopInputs,
    LoopSaved,
    SavedBuffers,
)


def forward_loop(inputs: LoopInputs, keep: bool) -> ForwardBuffers:
    """The C++ forward loop; without ``keep`` it holds one step of the buffers only the
    backward pass reads, and two of ``hs`` and ``cs``."""
    out, proj_in, *saved = torch.ops.lstmkit.lstm_forward_loop(*inputs, keep)
    return ForwardBuffers(out, proj_in, SavedBuffers(*saved))


def backward_loop(
    grad_out: Tensor, grad_h_n: Tensor, grad_c_n: Tensor, saved: LoopSaved
) -> LoopGradients:
    """The C++ backward loop."""
    return LoopGradients(
        *torch.ops.lstmkit.lstm_backward_loop(grad_out, grad_h_n, grad_c_n, *saved.flat())
    )
