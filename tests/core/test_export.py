"""Inference path under TorchScript (torch.jit.trace) and ONNX export with onnxruntime parity."""

import io
import warnings

import pytest
import torch

import lstmkit

ort = pytest.importorskip("onnxruntime")

CONFIGS = {
    "plain": {"num_layers": 2, "bidirectional": True},
    "variants": {
        "num_layers": 2,
        "bidirectional": True,
        "proj_size": 2,
        "layer_norm": True,
        "peephole": True,
        "zoneout": 0.2,
        "recurrent_dropout": 0.3,
        "residual": True,
    },
}


def make(name):
    torch.manual_seed(0)
    return lstmkit.LSTM(4, 3, batch_first=True, **CONFIGS[name]).eval()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_traced_module_matches_eager(name):
    module = make(name)
    x = torch.randn(2, 4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(module, (x,), check_trace=False)
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    x = torch.randn(2, 4, 4)
    expected, (h_n, c_n) = module(x)
    output, (h, c) = loaded(x)
    torch.testing.assert_close(output, expected)
    torch.testing.assert_close(h, h_n)
    torch.testing.assert_close(c, c_n)


def test_traced_plain_module_accepts_other_lengths():
    module = make("plain")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(module, (torch.randn(2, 4, 4),), check_trace=False)
    x = torch.randn(3, 9, 4)
    torch.testing.assert_close(traced(x)[0], module(x)[0])


@pytest.mark.parametrize("name", list(CONFIGS))
def test_onnx_export_matches_onnxruntime(name):
    module = make(name)
    x = torch.randn(2, 4, 4)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (x,),
            buffer,
            dynamo=False,
            opset_version=17,
            input_names=["x"],
            output_names=["output", "h_n", "c_n"],
        )
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    x = torch.randn(2, 4, 4)
    expected = module(x)
    expected = [expected[0], *expected[1]]
    results = session.run(None, {"x": x.numpy()})
    assert len(results) == 3
    for actual, reference in zip(results, expected, strict=True):
        torch.testing.assert_close(
            torch.from_numpy(actual), reference.detach(), rtol=1e-5, atol=1e-5
        )


class WithLengths(torch.nn.Module):
    """``(x, lengths) -> output``: the padded-batch call the task encoders make."""

    def __init__(self, lstm: lstmkit.LSTM) -> None:
        super().__init__()
        self.lstm = lstm

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.lstm(x, lengths=lengths)[0]


def padded_batches():
    generator = torch.Generator().manual_seed(1)
    for batch, steps in ((3, 7), (2, 11), (5, 4)):
        lengths = torch.randint(1, steps + 1, (batch,), generator=generator)
        lengths[0] = steps
        yield torch.randn(batch, steps, 4, generator=generator), lengths


def test_lengths_export_keeps_batch_and_length_dynamic():
    module = WithLengths(make("plain"))
    example = (torch.randn(3, 7, 4), torch.tensor([7, 3, 5]))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, example, check_trace=False)
        torch.onnx.export(
            module,
            example,
            buffer,
            dynamo=False,
            opset_version=17,
            input_names=["x", "lengths"],
            output_names=["output"],
            dynamic_axes={"x": {0: "B", 1: "T"}, "lengths": {0: "B"}, "output": {0: "B", 1: "T"}},
        )
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    for x, lengths in padded_batches():
        expected = module(x, lengths)
        assert all(not expected[b, n:].any() for b, n in enumerate(lengths.tolist()))
        (ours,) = session.run(None, {"x": x.numpy(), "lengths": lengths.numpy()})
        torch.testing.assert_close(torch.from_numpy(ours), expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(traced(x, lengths), expected, rtol=1e-5, atol=1e-5)
