"""The weights in the layout of the C++ loops' GEMMs, kept between inference calls.

The C++ time loops multiply row-major activations by ``W^T``: each call used to transpose
``W_hh``, ``W_ih`` and ``W_hr`` into fresh memory first. For inference that copy is the
same on every call; after a training step has freed and returned memory to the system it
also pays page faults (at B=32, T=100, I=H=256 on two threads the two 1 MiB transposes took
3.4 ms instead of 0.44 ms, a sixth of the whole forward). So without a backward pass the
transposed copy is made once per weight and version and reused until the weight changes.

A weight changes through an in-place op (its version counter moves), new storage (its
``data_ptr`` moves) or an optimizer step. Fused optimizer kernels (``AdamW(fused=True)``)
write the parameters without moving their version counters, so every optimizer step also
empties the cache, through torch's global step hook. Writes through ``.data`` are invisible
to both: call :func:`forget_layouts` after them.
"""

from __future__ import annotations

import weakref

from torch import Tensor
from torch.optim.optimizer import register_optimizer_step_post_hook

# id(weight) -> (weak reference to the weight, (data_ptr, version), W^T contiguous). Keyed by
# id because tensors compare element-wise (a WeakKeyDictionary would compare them); an entry
# goes when its weight does.
_transposed: dict[int, tuple[weakref.ref, tuple[int, int], Tensor]] = {}


def forget_layouts(*_: object) -> None:
    """Drop every kept transposed weight (the next inference call copies afresh)."""
    _transposed.clear()


register_optimizer_step_post_hook(forget_layouts)


def gemm_layout(weight: Tensor) -> Tensor:
    """``weight`` ``(N, K)`` with the same values as a column-major view, whose transpose
    ``(K, N)`` is contiguous: what the C++ loops read without copying. The transposed
    storage is reused while ``weight`` keeps its storage and version (an in-place update,
    such as an optimizer step, or new ``.data`` makes a new copy)."""
    if weight.is_inference():  # no version counter to tell a changed weight
        return weight.t().contiguous().t()
    ident, key = id(weight), (weight.data_ptr(), weight._version)
    entry = _transposed.get(ident)
    if entry is None or entry[0]() is not weight or entry[1] != key:
        forget = weakref.ref(weight, lambda _: _transposed.pop(ident, None))
        entry = (forget, key, weight.detach().t().contiguous())
        _transposed[ident] = entry
    return entry[2].t()
