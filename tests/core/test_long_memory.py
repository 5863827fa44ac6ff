"""The long-memory example: what it measures must show the RNN's vanishing gradient."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from lstmkit.examples.long_memory import (
    BASELINE_MSE,
    Settings,
    adding_batch,
    evaluate_mse,
    first_step_gradient,
    main,
    new_model,
    plot,
    train_at_lag,
)


def test_adding_batch_sums_the_two_marked_values() -> None:
    x, y = adding_batch(64, 20, torch.Generator().manual_seed(0))
    markers = x[..., 1]
    assert (markers.sum(1) == 2).all()
    assert (markers[:, :10].sum(1) == 1).all()  # one marker in each half
    torch.testing.assert_close(y, (x[..., 0] * markers).sum(1))
    x, _ = adding_batch(4, 20, torch.Generator().manual_seed(0), full_lag=True)
    assert (x[:, 0, 1] == 1).all() and (x[:, -1, 1] == 1).all()


def test_all_learn_a_short_lag_but_the_rnn_gradient_vanishes_over_a_long_one() -> None:
    settings = Settings(updates=300, test_size=256)
    gradients = {}
    for kind in ("rnn", "gru", "lstm"):
        model, generator = new_model(kind, settings)
        train_at_lag(model, 10, settings.updates, settings, generator)
        mse = evaluate_mse(model, 10, settings.test_size, generator)
        assert mse < 0.5 * BASELINE_MSE, (kind, mse)
        gradients[kind] = first_step_gradient(model, 200, 64, generator)
    assert gradients["rnn"] < 1e-6 * gradients["lstm"], gradients


def test_command_line_prints_the_tables_and_draws_the_figure(tmp_path: Path, capsys) -> None:
    tiny = ["--lags", "4", "8", "--updates", "4", "--scratch-lag", "8", "--scratch-updates", "4"]
    threads = ["--threads", str(torch.get_num_threads())]  # leave the process' setting alone
    results = main([*tiny, *threads, "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert len(results) == 4 * 2 + 4  # four models at two lags, then from scratch
    assert "| 8 |" in printed and "Trained from scratch at lag 8" in printed
    assert (tmp_path / "long_memory.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_without_matplotlib_says_what_to_install(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    with pytest.raises(SystemExit, match=r"pip install 'lstmkit\[plots\]'"):
        plot([], tmp_path / "long_memory.png")
