"""Fast path of the LSTM recurrence: a custom autograd Function over fused time loops (C++
on CPU, Triton on CUDA).

``lstm_layer`` has the signature and semantics of
:func:`lstmkit.reference.reference_lstm_layer`; ``set_backend("python")`` (or the environment
variable ``LSTMKIT_FUSED_BACKEND=python``) forces the portable PyTorch loops,
``set_backend("triton")`` the Triton kernels.
"""

from lstmkit.fused.extension import get_backend, load_extension, set_backend
from lstmkit.fused.layer import lstm_layer

__all__ = ["get_backend", "load_extension", "lstm_layer", "set_backend"]
