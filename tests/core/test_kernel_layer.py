"""lstmkit.kernels.lstm_layer against the reference loop: outputs, gradients, gradcheck.

Every variant and their combination run through both time-loop kernels: the C++ extension
and the PyTorch fallback. The input-term layer norm ``ln_x`` (inside the loop) is checked against
``F.layer_norm`` applied to ``gates_x`` before the reference loop.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lstmkit.kernels import lstm_layer, python_kernels
from lstmkit.kernels.extension import load_extension, set_backend
from lstmkit.reference import reference_lstm_layer

DTYPE = torch.float64
STEPS, BATCH, HIDDEN, PROJ = 5, 3, 4, 3

VARIANTS = {
    "plain": set(),
    "layer_norm": {"ln_x", "ln_h", "ln_c"},
    "input_norm": {"ln_x"},
    "recurrent_norm": {"ln_h"},
    "cell_norm": {"ln_c"},
    "input_and_cell_norm": {"ln_x", "ln_c"},
    "layer_norm_peephole": {"ln_x", "ln_h", "ln_c", "peephole"},
    "peephole": {"peephole"},
    "proj": {"w_hr"},
    "recurrent_dropout": {"rd_mask"},
    "zoneout_train": {"zoneout_train"},
    "zoneout_eval": {"zoneout_eval"},
    "mask": {"mask"},
    "peephole_zoneout_mask": {"peephole", "zoneout_train", "mask"},
    "all": {"ln_x", "ln_h", "ln_c", "peephole", "w_hr", "rd_mask", "zoneout_train", "mask"},
    "all_eval": {"ln_x", "ln_h", "ln_c", "peephole", "w_hr", "zoneout_eval", "mask"},
}


@pytest.fixture(params=["cpp", "python"])
def backend(request: pytest.FixtureRequest):
    set_backend(request.param)
    yield request.param
    set_backend("auto")


def reference(gates_x: torch.Tensor, *args, ln_x=None, **kwargs) -> tuple[torch.Tensor, ...]:
    """The reference loop on ``N_x(gates_x)``: the semantics of ``lstm_layer``'s ``ln_x``."""
    if ln_x is not None:
        gates_x = F.layer_norm(gates_x, (gates_x.shape[-1],), *ln_x)
    return reference_lstm_layer(gates_x, *args, **kwargs)


def make_inputs(
    features: set[str], seed: int = 0, steps: int = STEPS, batch: int = BATCH
) -> tuple[tuple, dict]:
    """Random tensors for ``lstm_layer(*args, **kwargs)`` with ``features`` on."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int, requires_grad: bool = True) -> torch.Tensor:
        x = torch.randn(*shape, generator=gen, dtype=DTYPE)
        return x.requires_grad_(requires_grad)

    def bernoulli(*shape: int, p: float = 0.4) -> torch.Tensor:
        return torch.bernoulli(torch.full(shape, p, dtype=DTYPE), generator=gen)

    width = PROJ if "w_hr" in features else HIDDEN
    args = (
        randn(steps, batch, 4 * HIDDEN),
        randn(4 * HIDDEN, width) * 0.5,
        randn(batch, width),
        randn(batch, HIDDEN),
    )
    kwargs: dict = {}
    if "ln_x" in features:
        kwargs["ln_x"] = (1 + 0.3 * randn(4 * HIDDEN), 0.3 * randn(4 * HIDDEN))
    if "ln_h" in features:
        kwargs["ln_h"] = (1 + 0.3 * randn(4 * HIDDEN), 0.3 * randn(4 * HIDDEN))
    if "ln_c" in features:
        kwargs["ln_c"] = (1 + 0.3 * randn(HIDDEN), 0.3 * randn(HIDDEN))
    if "peephole" in features:
        kwargs["peephole"] = 0.5 * randn(3, HIDDEN)
    if "w_hr" in features:
        kwargs["w_hr"] = 0.5 * randn(PROJ, HIDDEN)
    if "rd_mask" in features:
        kwargs["rd_mask"] = bernoulli(batch, width, p=0.7) / 0.7
    if "zoneout_train" in features:
        kwargs["zoneout_h"] = bernoulli(steps, batch, width)
        kwargs["zoneout_c"] = bernoulli(steps, batch, HIDDEN)
    if "zoneout_eval" in features:
        kwargs["zoneout_h"] = torch.tensor(0.3, dtype=DTYPE)
        kwargs["zoneout_c"] = torch.tensor(0.2, dtype=DTYPE)
    if "mask" in features:
        lengths = torch.tensor([steps, 2, 4]).repeat(batch)[:batch]
        kwargs["mask"] = torch.arange(steps)[:, None] < lengths[None, :]
    args = tuple(a.detach().requires_grad_() for a in args)
    kwargs = {k: _detach_leaf(v) for k, v in kwargs.items()}
    return args, kwargs


def _detach_leaf(value):
    if isinstance(value, tuple):
        return tuple(_detach_leaf(v) for v in value)
    return value.detach().requires_grad_(value.requires_grad)


def differentiable(args: tuple, kwargs: dict) -> list[torch.Tensor]:
    leaves = list(args)
    for value in kwargs.values():
        leaves.extend(value if isinstance(value, tuple) else [value])
    return [x for x in leaves if x.requires_grad]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_matches_reference_outputs_and_gradients(variant: str, backend: str) -> None:
    args, kwargs = make_inputs(VARIANTS[variant])
    leaves = differentiable(args, kwargs)
    expected = reference(*args, **kwargs)
    actual = lstm_layer(*args, **kwargs)
    for a, e in zip(actual, expected, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-12)
    # Weight every output differently so each gradient path is exercised.
    torch.manual_seed(2)
    cotangents = [torch.randn_like(e) for e in expected]
    grads_expected = torch.autograd.grad(expected, leaves, cotangents)
    grads_actual = torch.autograd.grad(actual, leaves, cotangents)
    for a, e in zip(grads_actual, grads_expected, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("steps", [3, 4], ids=["odd_steps", "even_steps"])
def test_batch_split_across_threads_matches_reference(backend: str, steps: int) -> None:
    """A batch large enough for the C++ loops to split it between threads, each with its
    own scratch rows and parameter-gradient accumulators, running all steps for its rows
    (the gradients of h_0 and c_0 end in either of two alternating buffers)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        args, kwargs = make_inputs(set(VARIANTS["all"]), seed=4, steps=steps, batch=900)
        leaves = differentiable(args, kwargs)
        expected = reference(*args, **kwargs)
        actual = lstm_layer(*args, **kwargs)
        grads_expected = torch.autograd.grad(sum(e.sum() for e in expected), leaves)
        grads_actual = torch.autograd.grad(sum(a.sum() for a in actual), leaves)
    finally:
        torch.set_num_threads(threads)
    for a, e in zip([*actual, *grads_actual], [*expected, *grads_expected], strict=True):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("steps", [STEPS, STEPS + 1], ids=["odd_steps", "even_steps"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_inference_matches_reference(variant: str, steps: int, backend: str) -> None:
    """Under no_grad the C++ loop keeps one step of its backward buffers and two of the
    states, alternating (the final state lands in the last slot for either parity)."""
    args, kwargs = make_inputs(VARIANTS[variant], seed=3, steps=steps)
    with torch.no_grad():
        expected = reference(*args, **kwargs)
        actual = lstm_layer(*args, **kwargs)
    for a, e in zip(actual, expected, strict=True):
        assert not a.requires_grad
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("variant", ["all", "all_eval", "layer_norm_peephole"])
def test_float32_loop_matches_float64_reference(variant: str, backend: str) -> None:
    """The float32 loops (the C++ one with its fast exp and tanh) stay within float32
    rounding of the float64 reference."""
    args, kwargs = make_inputs(VARIANTS[variant], seed=5, steps=20, batch=4)
    with torch.no_grad():
        expected = reference(*args, **kwargs)
        single = {k: _to_float32(v) for k, v in kwargs.items()}
        actual = lstm_layer(*(a.float() for a in args), **single)
    for a, e in zip(actual, expected, strict=True):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a.double(), e, rtol=0, atol=1e-5)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_float32_rows_split_across_threads_match_reference(variant: str, backend: str) -> None:
    """The float32 loops with the batch split between two threads (the C++ loop runs each
    thread's rows through the whole sequence, GEMMs included): inference and the forward pass
    of training stay within float32 rounding of the float64 reference, for every variant,
    padding masks included."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        args, kwargs = make_inputs(VARIANTS[variant], seed=6, steps=7, batch=600)
        with torch.no_grad():
            expected = reference(*args, **kwargs)
        single = {k: _to_float32(v) for k, v in kwargs.items()}
        for grad in (False, True):
            with torch.set_grad_enabled(grad):
                actual = lstm_layer(*(a.float() for a in args), **single)
            for a, e in zip(actual, expected, strict=True):
                assert a.requires_grad is grad
                # Layer norm divides float32 rounding by the row's deviation, small in a few
                # of the 600 random rows (both backends are 3e-5 off there).
                torch.testing.assert_close(a.detach().double(), e, rtol=0, atol=1e-4)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_input_term_computed_in_the_loop(variant: str, dtype: torch.dtype, backend: str) -> None:
    """``w_ih=``: the loop computes each step's input term from the layer input, with the same
    results as ``gates_x = x W_ih^T + b`` computed before it (every variant, masks included,
    rows split between two threads)."""
    gen = torch.Generator().manual_seed(7)
    steps, batch, inputs = 5, 300, 6
    x = torch.randn(steps, batch, inputs, generator=gen, dtype=DTYPE)
    w_ih = torch.randn(4 * HIDDEN, inputs, generator=gen, dtype=DTYPE)
    # Without ln_x the biases go with the input term; with it they are in its shift.
    bias = torch.randn(4 * HIDDEN, generator=gen, dtype=DTYPE)
    args, kwargs = make_inputs(VARIANTS[variant], seed=8, steps=steps, batch=batch)
    input_bias = None if "ln_x" in kwargs else bias
    kwargs = {k: _cast(v, dtype) for k, v in kwargs.items()}
    w_hh, h0, c0 = (a.detach().to(dtype) for a in args[1:])
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.no_grad():
            gates_x = F.linear(x, w_ih, input_bias).to(dtype)
            expected = lstm_layer(gates_x, w_hh, h0, c0, **kwargs)
            actual = lstm_layer(
                x.to(dtype), w_hh, h0, c0, w_ih=w_ih.to(dtype),
                input_bias=None if input_bias is None else input_bias.to(dtype), **kwargs,
            )  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    tolerance = {"rtol": 1e-10, "atol": 1e-12} if dtype == torch.float64 else {}
    for a, e in zip(actual, expected, strict=True):
        torch.testing.assert_close(a, e, **tolerance)


def test_input_term_in_the_loop_refuses_gradients() -> None:
    args, _ = make_inputs(set())
    x = torch.randn(STEPS, BATCH, 6, dtype=DTYPE)
    w_ih = torch.randn(4 * HIDDEN, 6, dtype=DTYPE, requires_grad=True)
    with pytest.raises(ValueError, match="no backward pass"):
        lstm_layer(x, *args[1:], w_ih=w_ih)


def _cast(value, dtype: torch.dtype):
    if isinstance(value, tuple):
        return tuple(_cast(v, dtype) for v in value)
    return value.detach().to(dtype) if value.is_floating_point() else value


def _to_float32(value):
    if isinstance(value, tuple):
        return tuple(_to_float32(v) for v in value)
    return value.float() if value.is_floating_point() else value


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_gradcheck(variant: str, backend: str) -> None:
    args, kwargs = make_inputs(VARIANTS[variant], seed=1)
    leaves = differentiable(args, kwargs)

    def run(*values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        it = iter(values)
        call_args = tuple(next(it) for _ in args)
        call_kwargs = {}
        for key, value in kwargs.items():
            if isinstance(value, tuple):
                call_kwargs[key] = tuple(next(it) if v.requires_grad else v for v in value)
            else:
                call_kwargs[key] = next(it) if value.requires_grad else value
        return lstm_layer(*call_args, **call_kwargs)

    assert torch.autograd.gradcheck(run, tuple(leaves), eps=1e-6, atol=1e-6, fast_mode=True)


def test_cpp_backend_is_built_and_used() -> None:
    """The C++ kernels build on this machine; a silent fallback would hide a slow path."""
    extension = load_extension(strict=True)
    assert extension is not None
    assert extension is not python_kernels


def test_python_backend_is_forced_by_set_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def spy(*args):
        calls.append(True)
        return python_kernels_forward(*args)

    python_kernels_forward = python_kernels.forward_loop
    monkeypatch.setattr(python_kernels, "forward_loop", spy)
    set_backend("python")
    try:
        args, kwargs = make_inputs({"peephole"})
        lstm_layer(*args, **kwargs)
    finally:
        set_backend("auto")
    assert calls


def test_unknown_backend_is_rejected() -> None:
    with pytest.raises(ValueError, match="LSTMKIT_KERNEL_BACKEND"):
        set_backend("fortran")
