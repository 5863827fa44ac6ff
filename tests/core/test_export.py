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
