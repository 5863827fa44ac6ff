"""The input GEMM of the variant layers: F.linear, or oneDNN for large inference GEMMs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from lstmkit import recurrence
from lstmkit.recurrence import input_gemm

onednn = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="needs oneDNN")


def ran_onednn(fn) -> bool:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return any("mkldnn::_linear_pointwise" in event.name for event in prof.events())


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let small test GEMMs take the oneDNN path."""
    monkeypatch.setattr(recurrence, "ONEDNN_MIN_MACS", 0)


def operands(bias: bool = True) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(7, 5, 24, generator=gen)
    weight = torch.randn(32, 24, generator=gen)
    return x, weight, torch.randn(32, generator=gen) if bias else None


@onednn
@pytest.mark.parametrize("bias", [True, False])
def test_inference_runs_onednn_with_f_linear_results(small_threshold: None, bias: bool) -> None:
    x, weight, b = operands(bias)
    with torch.no_grad():
        assert ran_onednn(lambda: input_gemm(x, weight, b))
        out = input_gemm(x, weight, b)
    assert out.shape == (7, 5, 32)
    torch.testing.assert_close(out, F.linear(x, weight, b), rtol=1e-5, atol=1e-5)


@onednn
def test_training_and_autocast_keep_f_linear(small_threshold: None) -> None:
    x, weight, b = operands()
    weight.requires_grad_()
    assert not ran_onednn(lambda: input_gemm(x, weight, b))
    assert input_gemm(x, weight, b).grad_fn is not None
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert not ran_onednn(lambda: input_gemm(x, weight, b))
        assert input_gemm(x, weight, b).dtype == torch.bfloat16


@onednn
def test_small_gemms_keep_f_linear() -> None:
    x, weight, b = operands()
    with torch.no_grad():
        assert not ran_onednn(lambda: input_gemm(x, weight, b))
