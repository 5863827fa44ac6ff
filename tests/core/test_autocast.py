"""Mixed precision: every route of LSTM, LSTMCell and the attention decoder under autocast.

Each route runs forward and backward under ``torch.autocast`` and again in float32 from the
same weights and random draws; outputs must agree within bfloat16's precision, gradients
must be finite, of the parameter's dtype and close to the float32 ones. The time loops of
lstmkit keep their state in float32: their ``(h_n, c_n)`` come back in float32, the
sequence output in the autocast dtype.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

import lstmkit.lstm as lstm_module
from lstmkit import LSTM, LSTMCell
from lstmkit.decoder import AttentionLSTMDecoder
from lstmkit.kernels.extension import set_backend

STEPS, BATCH, INPUT, HIDDEN = 6, 3, 8, 16
LENGTHS = [6, 4, 1]
# bfloat16 keeps 8 bits of mantissa: the input GEMM's gates are off by ~2^-8 relative.
OUTPUT_ATOL = {torch.bfloat16: 3e-2, torch.float16: 5e-3}
GRAD_RTOL = {torch.bfloat16: 5e-2, torch.float16: 1e-2}

# name -> (LSTM keyword arguments, forward input: "padded", "lengths" or "packed")
LSTM_ROUTES = {
    "torch_stack": ({"num_layers": 2}, "padded"),
    "torch_stack_lengths": ({"num_layers": 2}, "lengths"),
    "layer_norm": ({"layer_norm": True}, "padded"),
    "peephole": ({"peephole": True}, "padded"),
    "projection_zoneout": ({"proj_size": 5, "zoneout": 0.2}, "padded"),
    "recurrent_dropout": ({"recurrent_dropout": 0.3}, "padded"),
    "zoneout": ({"zoneout": 0.2}, "padded"),
    "residual": ({"num_layers": 2, "residual": True, "layer_norm": [False, True]}, "padded"),
    "per_layer_widths": ({"hidden_size": [HIDDEN, 12], "peephole": True}, "padded"),
    "bidirectional_lengths": ({"bidirectional": True, "layer_norm": True}, "lengths"),
    "packed_variants": ({"num_layers": 2, "zoneout": 0.1, "peephole": True}, "packed"),
}
# Routes whose layers all run torch's LSTM kernel: nn.LSTM's dtypes under autocast.
TORCH_KERNEL_ROUTES = {"torch_stack"}


@pytest.fixture(params=["auto", "python"])
def backend(request: pytest.FixtureRequest):
    """The C++ time loop (``auto`` on CPU) and the PyTorch loop backend."""
    set_backend(request.param)
    yield request.param
    set_backend("auto")


def run_lstm(
    model: LSTM, route_input: str, device: str, dtype: torch.dtype | None, seed: int
) -> tuple[list[Tensor], dict[str, Tensor]]:
    """Forward and backward of ``model`` (autocast to ``dtype`` unless None); returns the
    output, ``h_n`` and ``c_n`` (first layer's for per-layer lists) and the gradients."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(STEPS, BATCH, INPUT, generator=gen).to(device)
    model.zero_grad()
    torch.manual_seed(seed)  # the same dropout and zoneout draws in both precisions
    with torch.autocast(device, dtype=dtype or torch.float32, enabled=dtype is not None):
        if route_input == "packed":
            packed = pack_padded_sequence(x, torch.tensor(LENGTHS), enforce_sorted=False)
            output, (h_n, c_n) = model(packed)
            output = output.data
        else:
            lengths = torch.tensor(LENGTHS) if route_input == "lengths" else None
            output, (h_n, c_n) = model(x, lengths=lengths)
    if isinstance(h_n, list):
        h_n, c_n = h_n[0], c_n[0]
    loss = output.float().pow(2).sum() + h_n.float().sum() + c_n.float().sum()
    loss.backward()
    return [output, h_n, c_n], {n: p.grad.clone() for n, p in model.named_parameters()}


def assert_close_to_float32(
    low: list[Tensor],
    full: list[Tensor],
    low_grads: dict[str, Tensor],
    full_grads: dict[str, Tensor],
    model: nn.Module,
    dtype: torch.dtype,
) -> None:
    for got, want in zip(low, full, strict=True):
        torch.testing.assert_close(got.float(), want, atol=OUTPUT_ATOL[dtype], rtol=0)
    for name, param in model.named_parameters():
        grad, want = low_grads[name], full_grads[name]
        assert grad.dtype == param.dtype, name
        assert torch.isfinite(grad).all(), name
        error = (grad - want).norm() / want.norm().clamp_min(1e-6)
        assert error < GRAD_RTOL[dtype], f"{name}: relative gradient error {error:.3g}"


def check_lstm_route(route: str, device: str, dtype: torch.dtype) -> None:
    options, route_input = LSTM_ROUTES[route]
    options = {"hidden_size": HIDDEN, **options}
    torch.manual_seed(0)
    model = LSTM(INPUT, **options).to(device).train()
    low, low_grads = run_lstm(model, route_input, device, dtype, seed=1)
    full, full_grads = run_lstm(model, route_input, device, None, seed=1)
    output, h_n, c_n = low
    assert output.dtype == dtype
    if route not in TORCH_KERNEL_ROUTES:
        # lstmkit's loops keep the states in float32
        assert h_n.dtype == c_n.dtype == torch.float32
    assert_close_to_float32(low, full, low_grads, full_grads, model, dtype)


@pytest.mark.parametrize("route", list(LSTM_ROUTES))
def test_lstm_routes_under_cpu_bf16_autocast(route: str, backend: str) -> None:
    check_lstm_route(route, "cpu", torch.bfloat16)


def run_cell(
    cell: LSTMCell, device: str, dtype: torch.dtype | None
) -> tuple[list[Tensor], dict[str, Tensor]]:
    """Three steps of ``cell`` carrying its state, then backward."""
    gen = torch.Generator().manual_seed(0)
    xs = torch.randn(3, BATCH, INPUT, generator=gen).to(device)
    cell.zero_grad()
    torch.manual_seed(1)
    state = None
    with torch.autocast(device, dtype=dtype or torch.float32, enabled=dtype is not None):
        for x in xs:
            state = cell(x, state)
    h, c = state
    (h.float().pow(2).sum() + c.float().sum()).backward()
    return [h, c], {n: p.grad.clone() for n, p in cell.named_parameters()}


@pytest.mark.parametrize(
    "options",
    [{}, {"layer_norm": True}, {"peephole": True}, {"zoneout": 0.2}],
    ids=["plain", "layer_norm", "peephole", "zoneout"],
)
def test_cell_under_cpu_bf16_autocast(options: dict, backend: str) -> None:
    torch.manual_seed(0)
    cell = LSTMCell(INPUT, HIDDEN, **options).train()
    low, low_grads = run_cell(cell, "cpu", torch.bfloat16)
    full, full_grads = run_cell(cell, "cpu", None)
    # the state a decoder carries from step to step stays float32
    assert [t.dtype for t in low] == [torch.float32, torch.float32]
    assert_close_to_float32(low, full, low_grads, full_grads, cell, torch.bfloat16)


def make_decoder(attention: str) -> AttentionLSTMDecoder:
    torch.manual_seed(0)
    return AttentionLSTMDecoder(
        vocab_size=11,
        memory_size=HIDDEN,
        embedding_size=6,
        hidden_size=HIDDEN,
        attention=attention,
        attention_size=7,
        dropout=0.0,
        deep_output=attention == "general",
    )


def decoder_inputs() -> tuple[Tensor, Tensor, Tensor]:
    gen = torch.Generator().manual_seed(0)
    memory = torch.randn(BATCH, 5, HIDDEN, generator=gen)
    mask = torch.ones(BATCH, 5, dtype=torch.bool)
    mask[1, 3:] = False
    targets = torch.randint(0, 11, (BATCH, 4), generator=gen)
    return memory, mask, targets


@pytest.mark.parametrize("attention", ["additive", "general", "dot"])
def test_decoder_under_cpu_bf16_autocast(attention: str, backend: str) -> None:
    decoder = make_decoder(attention)
    memory, mask, targets = decoder_inputs()

    def run(dtype: torch.dtype | None) -> tuple[list[Tensor], dict[str, Tensor]]:
        decoder.zero_grad()
        with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
            logits, weights = decoder(memory, mask, targets, bos=1)
        (logits.float().logsumexp(-1).sum() + weights.sum()).backward()
        grads = {n: p.grad.clone() for n, p in decoder.named_parameters() if p.grad is not None}
        return [logits, weights], grads

    low, low_grads = run(torch.bfloat16)
    full, full_grads = run(None)
    assert low[1].dtype == torch.float32  # attention weights: softmax in float32
    assert set(low_grads) == set(full_grads)
    assert_close_to_float32(low, full, low_grads, full_grads, decoder, torch.bfloat16)


def test_decoder_search_scores_are_float32_under_autocast(backend: str) -> None:
    decoder = make_decoder("additive").eval()
    memory, mask, _ = decoder_inputs()
    search: dict[str, Callable] = {
        "greedy": lambda: decoder.greedy(memory, mask, bos=1, eos=2, max_len=6),
        "beam": lambda: [
            hyps[0] for hyps in decoder.beam_search(memory, mask, 1, 2, beam_size=3, max_len=6)
        ],
    }
    for name, decode in search.items():
        full = decode()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = decode()
        for got, want in zip(low, full, strict=True):
            # float32 scores: a bfloat16 running sum would be off by ~1e-2 per step
            assert got.log_prob == pytest.approx(want.log_prob, abs=0.1), name
            prefix = min(len(got.tokens), len(want.tokens), 2)
            assert torch.equal(got.tokens[:prefix], want.tokens[:prefix]), name


def test_backward_inside_autocast_runs_the_loop_in_float32(backend: str) -> None:
    """``loss.backward()`` called inside the autocast region (not recommended, but common)."""
    torch.manual_seed(0)
    model = LSTM(INPUT, HIDDEN, layer_norm=True, zoneout=0.1)
    x = torch.randn(STEPS, BATCH, INPUT)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output, _ = model(x, lengths=LENGTHS)
        output.float().sum().backward()
    for name, param in model.named_parameters():
        assert param.grad.dtype == torch.float32, name
        assert torch.isfinite(param.grad).all(), name


@pytest.mark.parametrize("options", [{"layer_norm": True}, {}], ids=["layer_norm", "plain"])
def test_bf16_parameters_run_the_loop_in_float32(options: dict, backend: str) -> None:
    """A model cast to bfloat16 (no autocast) runs lstmkit's loop too; the C++ loop has no
    bfloat16 kernel, the float32 loop gives outputs and gradients in bfloat16."""
    torch.manual_seed(0)
    model = LSTM(INPUT, HIDDEN, **options)
    reference = model(torch.ones(STEPS, BATCH, INPUT), lengths=LENGTHS)[0]
    model = model.to(torch.bfloat16)
    output, (h_n, c_n) = model(
        torch.ones(STEPS, BATCH, INPUT, dtype=torch.bfloat16), lengths=LENGTHS
    )
    assert output.dtype == h_n.dtype == c_n.dtype == torch.bfloat16
    torch.testing.assert_close(output.float(), reference, atol=3e-2, rtol=0)
    output.float().sum().backward()
    for name, param in model.named_parameters():
        assert param.grad.dtype == torch.bfloat16, name
        assert torch.isfinite(param.grad).all(), name


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("route", list(LSTM_ROUTES))
def test_lstm_routes_under_cuda_autocast(route: str, dtype: torch.dtype) -> None:
    check_lstm_route(route, "cuda", dtype)


@cuda
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_cell_under_cuda_autocast(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    cell = LSTMCell(INPUT, HIDDEN, layer_norm=True).cuda()
    low, low_grads = run_cell(cell, "cuda", dtype)
    full, full_grads = run_cell(cell, "cuda", None)
    assert [t.dtype for t in low] == [torch.float32, torch.float32]
    assert_close_to_float32(low, full, low_grads, full_grads, cell, dtype)


def test_fused_kernel_falls_back_to_float32_where_the_cpu_has_no_bf16_lstm(monkeypatch) -> None:
    # Where oneDNN has no bfloat16 LSTM (CPUs without AVX-512 BF16), nn.LSTM fails under CPU
    # autocast; lstmkit runs torch's kernel in float32 there and returns bfloat16.
    monkeypatch.setattr(lstm_module, "_cpu_has_bf16_lstm", lambda: False)
    torch.manual_seed(0)
    model = LSTM(INPUT, HIDDEN, num_layers=2)
    x = torch.randn(5, BATCH, INPUT)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output, (h_n, c_n) = model(x)
    full, _ = model(x)
    assert output.dtype == h_n.dtype == c_n.dtype == torch.bfloat16
    torch.testing.assert_close(output.float(), full, atol=1e-2, rtol=0)  # float32, then rounded
