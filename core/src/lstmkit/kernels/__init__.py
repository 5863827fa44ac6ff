"""lstmkit's own kernels for the LSTM recurrence: a custom autograd Function over time loops
(C++ on CPU, Triton on CUDA, PyTorch ops elsewhere), as opposed to torch's LSTM kernel
(oneDNN/cuDNN) that plain layers run.

``lstm_layer`` has the signature and semantics of
:func:`lstmkit.reference.reference_lstm_layer`; ``set_backend("python")`` (or the environment
variable ``LSTMKIT_KERNEL_BACKEND=python``) forces the portable PyTorch loops,
``set_backend("triton")`` the Triton kernels.
"""

from lstmkit.kernels.extension import get_backend, load_extension, set_backend
from lstmkit.kernels.layer import lstm_layer

__all__ = ["get_backend", "load_extension", "lstm_layer", "set_backend"]
