"""The Triton time loops (lstmkit.kernels.triton_kernels) against the reference and PyTorch loops.

Without CUDA the kernels run under Triton's interpreter on CPU tensors (tests/conftest.py
sets ``TRITON_INTERPRET=1`` before anything imports triton), at tiny shapes: the interpreter
is slow. With CUDA the same tests run the compiled kernels on the GPU, plus the GPU-only
tests at the end.
"""

from __future__ import annotations

import sys

import pytest
import torch

import lstmkit.kernels
from lstmkit import LSTM
from lstmkit.kernels import extension, lstm_layer, python_kernels, triton_kernels
from lstmkit.kernels.interface import LoopInputs, LoopSaved
from tests.core.test_kernel_layer import VARIANTS, differentiable, make_inputs, reference

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
# The interpreter runs float64 too, so the kernels' algebra is checked to the reference
# loop's tolerance; in float32 the PyTorch loops themselves are up to 5e-5 off relatively
# (4e-4 absolutely, on gradients of size 10) with layer norm, and the kernels twice that.
TOLERANCES = {
    torch.float64: {"rtol": 1e-10, "atol": 1e-12},
    torch.float32: {"rtol": 2e-3, "atol": 1e-5},
}
DTYPES = [
    pytest.param(
        torch.float64,
        marks=pytest.mark.skipif(
            torch.cuda.is_available(), reason="float64 runs the kernels only when interpreted"
        ),
    ),
    torch.float32,
]


@pytest.fixture
def triton_backend(monkeypatch: pytest.MonkeyPatch):
    """Forces the Triton kernels, and fails the test if they hand over to the PyTorch loops."""

    def fell_back(*args):
        raise AssertionError("the Triton kernels fell back to the PyTorch loops")

    monkeypatch.setattr(python_kernels, "forward_loop", fell_back)
    extension.set_backend("triton")
    yield
    extension.set_backend("auto")


def test_kernels_are_interpreted_without_cuda() -> None:
    """Guards the set-up in tests/conftest.py: compiled kernels cannot read CPU tensors."""
    assert triton_kernels.INTERPRETED is (DEVICE.type == "cpu")


def _cast(args: tuple, kwargs: dict, dtype: torch.dtype) -> tuple[tuple, dict]:
    """The same inputs as fresh leaves of ``dtype`` on ``DEVICE`` (boolean masks kept)."""

    def cast(x: torch.Tensor) -> torch.Tensor:
        if not x.is_floating_point():
            return x.to(DEVICE)
        return x.detach().to(DEVICE, dtype).requires_grad_(x.requires_grad)

    def cast_value(value):
        return tuple(cast(v) for v in value) if isinstance(value, tuple) else cast(value)

    return tuple(cast(a) for a in args), {k: cast_value(v) for k, v in kwargs.items()}


# Each variant alone, pairs that share a kernel pass, and everything combined.
PARITY_VARIANTS = [
    "plain", "layer_norm", "recurrent_norm", "cell_norm", "peephole", "proj",
    "recurrent_dropout", "zoneout_train", "zoneout_eval", "mask", "all", "all_eval",
]  # fmt: skip


@pytest.mark.usefixtures("triton_backend")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", PARITY_VARIANTS)
def test_matches_reference_outputs_and_gradients(variant: str, dtype: torch.dtype) -> None:
    """Through LSTMLayerFunction: outputs, and the gradients of the inputs, w_hh, h0, c0,
    the layer-norm gains and biases, the peepholes and w_hr."""
    tolerance = TOLERANCES[dtype]
    args, kwargs = _cast(*make_inputs(VARIANTS[variant]), dtype)
    args64, kwargs64 = _cast(args, kwargs, torch.float64)
    actual = lstm_layer(*args, **kwargs)
    expected = reference(*args64, **kwargs64)
    for a, e in zip(actual, expected, strict=True):
        torch.testing.assert_close(a.double(), e, **tolerance)
    generator = torch.Generator().manual_seed(2)
    cotangents = [torch.randn(e.shape, generator=generator, dtype=e.dtype) for e in expected]
    grads_expected = torch.autograd.grad(
        expected, differentiable(args64, kwargs64), [c.to(DEVICE) for c in cotangents]
    )
    grads_actual = torch.autograd.grad(
        actual, differentiable(args, kwargs), [c.to(DEVICE, dtype) for c in cotangents]
    )
    assert len(grads_actual) == len(grads_expected) >= 4
    for a, e in zip(grads_actual, grads_expected, strict=True):
        torch.testing.assert_close(a.double(), e, **tolerance)


def _loop_inputs(
    features: set[str], steps: int, batch: int, hidden: int, proj: int, dtype: torch.dtype
) -> tuple[LoopInputs, tuple]:
    """The inputs of ``forward_loop`` (``features`` named as in ``VARIANTS``) and the
    cotangents ``(dy, dh_n, dc_n)``."""
    gen = torch.Generator().manual_seed(5)

    def randn(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (scale * torch.randn(*shape, generator=gen)).to(DEVICE, dtype)

    def bernoulli(*shape: int, p: float) -> torch.Tensor:
        return torch.bernoulli(torch.full(shape, p), generator=gen).to(DEVICE, dtype)

    def norm(name: str, size: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if name not in features:
            return None, None
        return 1 + randn(size, scale=0.3), randn(size, scale=0.3)

    width = proj if "w_hr" in features else hidden
    zoneout_h = zoneout_c = None
    if "zoneout_train" in features:
        zoneout_h = bernoulli(steps, batch, width, p=0.4)
        zoneout_c = bernoulli(steps, batch, hidden, p=0.4)
    if "zoneout_eval" in features:
        zoneout_h, zoneout_c = (torch.tensor(p, device=DEVICE, dtype=dtype) for p in (0.3, 0.2))
    lengths = torch.arange(batch) % steps + 1
    loop_args = LoopInputs(
        randn(steps, batch, 4 * hidden),
        randn(4 * hidden, width, scale=0.3),
        randn(batch, width),
        randn(batch, hidden),
        *norm("ln_x", 4 * hidden),
        *norm("ln_h", 4 * hidden),
        *norm("ln_c", hidden),
        randn(3, hidden, scale=0.5) if "peephole" in features else None,
        randn(width, hidden, scale=0.3) if "w_hr" in features else None,
        bernoulli(batch, width, p=0.7) / 0.7 if "rd_mask" in features else None,
        zoneout_h,
        zoneout_c,
        (torch.arange(steps)[:, None] < lengths).to(DEVICE, dtype) if "mask" in features else None,
    )
    cotangents = (randn(steps, batch, width), randn(batch, width), randn(batch, hidden))
    return loop_args, cotangents


def _run_loops(kernels, loop_args: LoopInputs, cotangents: tuple) -> tuple[tuple, tuple]:
    """``forward_loop`` then ``backward_loop`` of ``kernels``, as LSTMLayerFunction calls
    them: the forward buffers one by one (``out``, ``proj_in``, then the saved buffers) and the
    gradients."""
    forward = kernels.forward_loop(loop_args, True)
    backward = kernels.backward_loop(*cotangents, LoopSaved.of(loop_args, forward))
    return (forward.out, forward.proj_in, *forward.saved), backward


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", ["all", "all_eval"])
def test_buffers_match_python_kernels_across_tiles(variant: str, dtype: torch.dtype) -> None:
    """Every buffer and gradient of the two loops, at widths that take two tiles (16 + 4
    hidden units, 16 + 2 projection units, 16 + 1 batch rows), so the tile loops, the
    layer-norm statistics combined across tiles and the second program are exercised."""
    loop_args, cotangents = _loop_inputs(VARIANTS[variant], 3, 17, 20, 18, dtype)
    expected = _run_loops(python_kernels, loop_args, cotangents)
    actual = _run_loops(triton_kernels, loop_args, cotangents)
    for a_list, e_list in zip(actual, expected, strict=True):
        for a, e in zip(a_list, e_list, strict=True):
            assert (a is None) == (e is None)
            if e is not None:
                torch.testing.assert_close(a, e, **TOLERANCES[dtype])


# Indices in backward_loop's list of d_input, d_h0, d_c0 and the small parameters' gradients
# (the other two are the GEMM operands of the weight gradients).
SUMMED_GRADIENTS = (0, 3, 4, 5, 6, 7, 8, 9, 10)


@pytest.mark.parametrize("variant", ["all", "all_eval"])
def test_bfloat16_matches_float32(variant: str) -> None:
    """bfloat16 storage, float32 arithmetic: outputs and gradients within bfloat16's
    resolution of the float32 PyTorch loops."""
    loop_args, cotangents = _loop_inputs(VARIANTS[variant], 3, 3, 16, 8, torch.bfloat16)
    (out, _, hs, cs, *_), backward = _run_loops(triton_kernels, loop_args, cotangents)
    assert out.dtype == hs.dtype == cs.dtype == torch.bfloat16
    (out32, _, hs32, cs32, *_), backward32 = _run_loops(
        python_kernels,
        LoopInputs(*(_float(x) for x in loop_args)),
        tuple(_float(x) for x in cotangents),
    )
    pairs = [(out, out32), (hs[-1], hs32[-1]), (cs[-1], cs32[-1])]
    pairs += [(backward[i], backward32[i]) for i in SUMMED_GRADIENTS if backward32[i] is not None]
    assert len(pairs) >= 10
    for a, e in pairs:
        torch.testing.assert_close(a.float(), e, rtol=0.05, atol=0.05)


def _float(x: torch.Tensor | None) -> torch.Tensor | None:
    return None if x is None else x.float()


def test_buffers_beyond_int32_offsets_are_left_to_the_pytorch_loops() -> None:
    def gates(steps: int, batch: int, four_h: int) -> torch.Tensor:
        return torch.empty(steps, batch, four_h, device="meta")

    assert triton_kernels._supported(gates(500, 64, 2048), 512)
    assert not triton_kernels._supported(gates(2100, 512, 2048), 512)  # 2.2e9 elements


def test_auto_backend_uses_triton_on_cuda_and_cpp_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    cpp_kernels = object()
    monkeypatch.setattr(extension, "load_extension", lambda strict=False: cpp_kernels)
    monkeypatch.setattr(extension, "_backend", "auto")
    assert extension.kernels_for(torch.device("cuda")) is triton_kernels
    assert extension.kernels_for(torch.device("cpu")) is cpp_kernels
    assert extension.kernels_for(torch.device("meta")) is python_kernels
    monkeypatch.setattr(extension, "_backend", "triton")
    assert extension.kernels_for(torch.device("cpu")) is triton_kernels
    monkeypatch.setattr(extension, "_backend", "python")
    assert extension.kernels_for(torch.device("cuda")) is python_kernels


def test_missing_triton_falls_back_or_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """A torch build without triton: CUDA keeps the PyTorch loops (one warning), a forced
    ``triton`` backend names the import error."""
    monkeypatch.setattr(extension, "_triton_kernels", None)
    monkeypatch.setattr(extension, "_triton_error", None)
    monkeypatch.setattr(extension, "_backend", "auto")
    monkeypatch.delattr(lstmkit.kernels, "triton_kernels", raising=False)
    monkeypatch.delitem(sys.modules, "lstmkit.kernels.triton_kernels")
    monkeypatch.setitem(sys.modules, "triton", None)
    with pytest.warns(RuntimeWarning, match="Triton LSTM kernels unavailable"):
        assert extension.kernels_for(torch.device("cuda")) is python_kernels
    monkeypatch.setattr(extension, "_backend", "triton")
    with pytest.raises(
        RuntimeError, match=r"LSTMKIT_KERNEL_BACKEND=triton: .* unavailable \(ModuleNotFoundError"
    ):
        extension.kernels_for(torch.device("cuda"))


def test_lstm_module_runs_the_triton_kernels_when_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    """``LSTMKIT_KERNEL_BACKEND=triton`` reaches the variant layers of ``lstmkit.LSTM`` (and
    not the plain ones, which keep torch's LSTM kernel)."""
    calls = []
    forward_loop = triton_kernels.forward_loop

    def spy(inputs, keep):
        calls.append(inputs.gates_x.shape)
        return forward_loop(inputs, keep)

    monkeypatch.setattr(triton_kernels, "forward_loop", spy)
    torch.manual_seed(0)
    lstm = LSTM(6, 8, num_layers=2, layer_norm=[True, False], peephole=[True, False]).to(DEVICE)
    x = torch.randn(3, 2, 6, device=DEVICE)
    results = {}
    for backend in ("python", "triton"):
        monkeypatch.setattr(extension, "_backend", backend)
        lstm.zero_grad()
        out, (h_n, c_n) = lstm(x)
        (out.sum() + h_n.sum() + c_n.sum()).backward()
        results[backend] = [out, h_n, c_n, *(p.grad for p in lstm.parameters())]
    assert calls == [(3, 2, 32)]  # the first layer only
    for a, e in zip(results["triton"], results["python"], strict=True):
        torch.testing.assert_close(a, e, **TOLERANCES[torch.float32])


@needs_cuda
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("shape", [(20, 32, 256, 128), (7, 5, 40, 24)])
def test_gpu_kernels_match_python_kernels(variant: str, shape: tuple[int, ...]) -> None:
    """The compiled kernels at benchmark-like and ragged sizes (float32 GEMMs in IEEE
    precision, as torch's default)."""
    loop_args, cotangents = _loop_inputs(VARIANTS[variant], *shape, torch.float32)
    expected = _run_loops(python_kernels, loop_args, cotangents)
    actual = _run_loops(triton_kernels, loop_args, cotangents)
    for a_list, e_list in zip(actual, expected, strict=True):
        for a, e in zip(a_list, e_list, strict=True):
            if e is not None:
                torch.testing.assert_close(a, e, rtol=1e-3, atol=1e-4)


@needs_cuda
def test_gpu_lstm_dispatches_variants_to_triton(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extension, "_backend", "auto")
    calls = []
    forward_loop = triton_kernels.forward_loop
    monkeypatch.setattr(
        triton_kernels, "forward_loop", lambda *a: calls.append(True) or forward_loop(*a)
    )
    lstm = LSTM(16, 32, zoneout=0.1, device=DEVICE)
    lstm(torch.randn(5, 4, 16, device=DEVICE))[0].sum().backward()
    assert calls
