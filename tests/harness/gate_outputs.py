"""Checks shared by the tests of ``predict ... gates=true``: the figure and the raw traces."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_gate_outputs(
    record: dict, layers: int, directions: int, steps: int | None = None
) -> dict:
    """Assert the record names a PNG figure and an ``.npz`` holding every layer-direction's
    ``i, f, g, o, c`` as ``(T, H)`` arrays within their ranges; returns the arrays."""
    figure, traces = Path(record["gates"]["figure"]), Path(record["gates"]["traces"])
    assert figure.read_bytes()[:8] == PNG_SIGNATURE and figure.stat().st_size > 10_000
    arrays = dict(np.load(traces))
    names = ("forward", "backward")[:directions]
    expected = {f"l{k}_{d}_{f}" for k in range(layers) for d in names for f in "ifgoc"}
    assert set(arrays) == expected
    for k in range(layers):
        shapes = {arrays[f"l{k}_{d}_{f}"].shape for d in names for f in "ifgoc"}
        assert len(shapes) == 1, shapes
        (shape,) = shapes
        if steps is not None and k == layers - 1:
            assert shape[0] == steps
        for d in names:
            for gate in "ifo":
                values = arrays[f"l{k}_{d}_{gate}"]
                assert ((values > 0) & (values < 1)).all()
            assert (np.abs(arrays[f"l{k}_{d}_g"]) <= 1).all()
    return arrays


def run_predict(args: list[str]) -> None:
    """``scripts/predict.py`` with ``args`` as its command line."""
    import sys

    import pytest

    from scripts import predict

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["predict.py", *args])
        predict.main()
