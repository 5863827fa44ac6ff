"""Inference reuses the C++ loops' transposed weights until the weights change."""

from __future__ import annotations

import pytest
import torch

import lstmkit
from lstmkit.kernels import get_backend, load_extension
from lstmkit.kernels.weight_layout import forget_layouts, gemm_layout

pytestmark = pytest.mark.skipif(
    get_backend() not in ("auto", "cpp") or load_extension() is None,
    reason="the transposed-weight cache serves the C++ loops",
)


def test_layout_is_reused_until_the_weight_changes() -> None:
    weight = torch.nn.Parameter(torch.randn(8, 4))
    with torch.no_grad():
        first = gemm_layout(weight)
        assert torch.equal(first, weight) and first.t().is_contiguous()
        assert gemm_layout(weight).data_ptr() == first.data_ptr()  # cached
        weight.add_(1.0)  # an optimizer step is an in-place update
        updated = gemm_layout(weight)
    assert updated.data_ptr() != first.data_ptr()
    assert torch.equal(updated, weight)


def test_writes_through_data_need_forget_layouts() -> None:
    weight = torch.nn.Parameter(torch.randn(8, 4))
    with torch.no_grad():
        stale = gemm_layout(weight)
        weight.data.mul_(2.0)  # .data has its own version counter
        assert gemm_layout(weight).data_ptr() == stale.data_ptr()
        forget_layouts()
        assert torch.equal(gemm_layout(weight), weight)


OPTIMIZERS = {
    "sgd": lambda params: torch.optim.SGD(params, lr=0.5),
    # the fused kernel writes the parameters without moving their version counters
    "fused_adamw": lambda params: torch.optim.AdamW(params, lr=0.05, fused=True),
}


@pytest.mark.parametrize("optimizer_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("options", [{"peephole": True}, {"layer_norm": True}, {"proj_size": 3}])
def test_inference_sees_each_training_step(options: dict, optimizer_name: str) -> None:
    torch.manual_seed(0)
    model = lstmkit.LSTM(5, 6, num_layers=2, zoneout=0.1, **options)
    optimizer = OPTIMIZERS[optimizer_name](model.parameters())
    x = torch.randn(7, 3, 5)
    for _ in range(3):
        model.eval()
        with torch.no_grad():
            cached = model(x)[0]
            again = model(x)[0]
        # the same layer on fresh contiguous weights (training mode computes its own copy)
        reference = lstmkit.LSTM(5, 6, num_layers=2, zoneout=0.1, **options)
        reference.load_state_dict(model.state_dict())
        reference.eval()
        with torch.no_grad():
            expected = reference(x)[0]
        assert torch.equal(cached, expected) and torch.equal(again, expected)
        model.train()
        model(x)[0].pow(2).sum().backward()
        optimizer.step()
        optimizer.zero_grad()
