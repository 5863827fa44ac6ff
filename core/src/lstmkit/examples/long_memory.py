r"""Long memory: a plain RNN, a GRU and :class:`lstmkit.LSTM` on the adding problem.

``python -m lstmkit.examples.long_memory [--lags 10 30 100 300 500] [--out long_memory]``

The adding problem (Hochreiter & Schmidhuber 1997; this form from Arjovsky et al. 2016):
each step carries a value ``v_t ~ U(0, 1)`` and a marker ``m_t``; exactly two markers are
1, one in the first half of the sequence and one in the second, and the target at the
last step is ``y = sum_t m_t v_t``. Predicting the mean, ``y = 1``, scores the trivial
baseline ``MSE = Var(v_a + v_b) = 1/6``. A model beats it only by carrying ``v_a`` up to
``T - 1`` steps (the lag) past a stream of distractor values.

Each model (same hidden size, a linear head on the last step's output) is trained through
the lags in increasing order, continuing from the previous lag's weights (a curriculum, as
a short lag is where any of them can first pick the task up), and after each lag reports:

- the test MSE on fresh sequences of that lag;
- ``|d L / d x_1|``: the gradient of the loss reaching the first input, measured in float64
  on sequences whose first marker is at step 1 and second at step ``T``, so that ``y``
  depends on ``x_1`` across the whole lag; once after training at that lag and once with
  the untrained model. For the RNN it shrinks like the product of the Jacobians
  ``d h_t / d h_{t-1} = diag(1 - h_t^2) W_hh``; for the LSTM the cell path
  ``d c_t / d c_{t-1} = diag(f_t)`` keeps it where the forget gate stays near 1.

Then each model is trained once more from scratch at ``scratch_lag`` alone (no curriculum),
which is where the start matters most. The LSTM runs twice,
with the forget-gate bias initialised to 1.0 and to 0.0 (``f = sigma(0) = 0.5`` at the
start halves the cell's memory every step, ``sigma(1) = 0.73`` keeps more of it).
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from lstmkit.lstm import LSTM

BASELINE_MSE = 1.0 / 6.0
GRADIENT_LABEL = r"mean $\|\partial L / \partial x_1\|$ (float64, log)"
MODELS = ("rnn", "gru", "lstm", "lstm_forget_bias_0")
MODEL_LABELS = {
    "rnn": "RNN (tanh)",
    "gru": "GRU",
    "lstm": "LSTM, forget bias 1",
    "lstm_forget_bias_0": "LSTM, forget bias 0",
}


@dataclass(frozen=True)
class Settings:
    """Training settings shared by every model and lag."""

    lags: tuple[int, ...] = (10, 30, 100, 300, 500)
    hidden_size: int = 32
    batch_size: int = 32
    updates: int = 400
    learning_rate: float = 1e-2
    test_size: int = 512
    gradient_size: int = 64
    scratch_lag: int = 50
    scratch_updates: int = 800
    seed: int = 0

    def updates_at(self, lag: int) -> int:
        """Adam updates at ``lag`` in the curriculum: ``updates`` up to lag 100, then fewer
        (``100 / lag`` of them, at least a quarter) to keep the run short; a model that
        carries its memory over 100 steps needs few updates to carry it further."""
        return max(self.updates // 4, round(self.updates * min(1.0, 100 / lag)))


@dataclass(frozen=True)
class Result:
    model: str
    lag: int
    mse: float
    first_step_gradient: float
    initial_gradient: float
    """``|d L / d x_1|`` of the untrained model (NaN for the from-scratch runs)."""
    seconds: float


class AddingRegressor(nn.Module):
    """A recurrent layer ``(B, T, 2) -> (B, T, H)`` and a linear head on the last step."""

    def __init__(self, kind: str, hidden_size: int) -> None:
        super().__init__()
        if kind == "rnn":
            self.recurrent = nn.RNN(2, hidden_size, nonlinearity="tanh", batch_first=True)
        elif kind == "gru":
            self.recurrent = nn.GRU(2, hidden_size, batch_first=True)
        elif kind in ("lstm", "lstm_forget_bias_0"):
            forget_bias = 1.0 if kind == "lstm" else 0.0
            self.recurrent = LSTM(2, hidden_size, batch_first=True, forget_bias=forget_bias)
        else:
            raise ValueError(f"unknown model {kind!r}; pick one of {', '.join(MODELS)}")
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: Tensor) -> Tensor:
        """``x (B, T, 2)`` -> prediction ``(B,)``."""
        output, _ = self.recurrent(x)
        return self.head(output[:, -1]).squeeze(-1)


def adding_batch(
    batch_size: int, lag: int, generator: torch.Generator, full_lag: bool = False
) -> tuple[Tensor, Tensor]:
    """``(x (B, T, 2), y (B,))`` with ``T = lag``: values and markers, and the marked sum.

    Markers fall one in each half of the sequence, or at the first and the last step with
    ``full_lag``.
    """
    values = torch.rand(batch_size, lag, generator=generator)
    rows = torch.arange(batch_size)
    if full_lag:
        first = torch.zeros(batch_size, dtype=torch.long)
        second = torch.full((batch_size,), lag - 1)
    else:
        first = torch.randint(0, lag // 2, (batch_size,), generator=generator)
        second = torch.randint(lag // 2, lag, (batch_size,), generator=generator)
    markers = torch.zeros(batch_size, lag)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    return torch.stack([values, markers], dim=-1), (values * markers).sum(1)


def train_at_lag(
    model: AddingRegressor,
    lag: int,
    updates: int,
    settings: Settings,
    generator: torch.Generator,
) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    model.train()
    for _ in range(updates):
        x, y = adding_batch(settings.batch_size, lag, generator)
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        # Exploding gradients are the RNN's other failure; clipping keeps it comparable.
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()


@torch.no_grad()
def evaluate_mse(model: AddingRegressor, lag: int, size: int, generator: torch.Generator) -> float:
    model.eval()
    x, y = adding_batch(size, lag, generator)
    return float(nn.functional.mse_loss(model(x), y))


def first_step_gradient(
    model: AddingRegressor, lag: int, size: int, generator: torch.Generator
) -> float:
    """Mean over sequences of ``|d L / d x_1|`` (float64, so that tiny norms don't underflow)."""
    model64 = copy.deepcopy(model).double().eval()
    x, y = adding_batch(size, lag, generator, full_lag=True)
    x = x.double().requires_grad_()
    loss = nn.functional.mse_loss(model64(x), y.double(), reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return float(grad[:, 0].norm(dim=-1).mean())


def new_model(kind: str, settings: Settings) -> tuple[AddingRegressor, torch.Generator]:
    """The model and the data generator, both seeded, so every run starts alike."""
    torch.manual_seed(settings.seed)
    return AddingRegressor(kind, settings.hidden_size), torch.Generator().manual_seed(settings.seed)


def measure(
    kind: str,
    model: AddingRegressor,
    lag: int,
    settings: Settings,
    generator: torch.Generator,
    initial_gradient: float,
    start: float,
    log,
) -> Result:
    result = Result(
        kind,
        lag,
        evaluate_mse(model, lag, settings.test_size, generator),
        first_step_gradient(model, lag, settings.gradient_size, generator),
        initial_gradient,
        time.perf_counter() - start,
    )
    log(
        f"{MODEL_LABELS[kind]:>20}  lag {lag:>4}: MSE {result.mse:.4f}, "
        f"|dL/dx_1| {result.first_step_gradient:.2e} (untrained {initial_gradient:.2e}, "
        f"{result.seconds:.1f} s)"
    )
    return result


def run_curriculum(settings: Settings, kind: str, log=print) -> list[Result]:
    """Train ``kind`` through ``settings.lags`` in turn; one :class:`Result` per lag."""
    model, generator = new_model(kind, settings)
    untrained = copy.deepcopy(model)
    results = []
    for lag in settings.lags:
        start = time.perf_counter()
        initial = first_step_gradient(untrained, lag, settings.gradient_size, generator)
        train_at_lag(model, lag, settings.updates_at(lag), settings, generator)
        results.append(measure(kind, model, lag, settings, generator, initial, start, log))
    return results


def run_from_scratch(settings: Settings, kind: str, log=print) -> Result:
    """Train ``kind`` at ``settings.scratch_lag`` only, ``settings.scratch_updates`` times."""
    model, generator = new_model(kind, settings)
    lag = settings.scratch_lag
    start = time.perf_counter()
    train_at_lag(model, lag, settings.scratch_updates, settings, generator)
    return measure(kind, model, lag, settings, generator, math.nan, start, log)


def format_tables(curriculum: Sequence[Result], scratch: Sequence[Result]) -> str:
    """Markdown: per lag, MSE and ``|dL/dx_1|`` (trained; untrained) per model; then the
    from-scratch runs."""
    models = list(dict.fromkeys(r.model for r in curriculum))
    lags = list(dict.fromkeys(r.lag for r in curriculum))
    by_key = {(r.model, r.lag): r for r in curriculum}
    labels = [MODEL_LABELS[m] for m in models]
    blocks = [
        ("Test MSE after training up to the lag (curriculum)", lambda r: f"{r.mse:.4f}"),
        ("\\|dL/dx_1\\| after training", lambda r: f"{r.first_step_gradient:.1e}"),
        ("\\|dL/dx_1\\| untrained", lambda r: f"{r.initial_gradient:.1e}"),
    ]
    lines = []
    for title, cell in blocks:
        lines += [f"\n{title}:\n", "| lag | " + " | ".join(labels) + " |"]
        lines.append("|---:|" + "---:|" * len(labels))
        for lag in lags:
            cells = [cell(by_key[m, lag]) for m in models]
            lines.append(f"| {lag} | " + " | ".join(cells) + " |")
    if scratch:
        lines += [f"\nTrained from scratch at lag {scratch[0].lag} only:\n"]
        lines += ["| model | test MSE | \\|dL/dx_1\\| |", "|---|---:|---:|"]
        lines += [
            f"| {MODEL_LABELS[r.model]} | {r.mse:.4f} | {r.first_step_gradient:.1e} |"
            for r in scratch
        ]
    lines.append(f"\nTrivial baseline (always predict 1): MSE {BASELINE_MSE:.4f}.")
    return "\n".join(lines)


def plot(results: Sequence[Result], path: Path) -> Path:
    """Draw MSE and ``|dL/dx_1|`` (trained, untrained) against the lag, one line per model,
    into the PNG ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise SystemExit(
            "plotting needs matplotlib: pip install 'lstmkit[plots]' (or pass --no-plot)"
        ) from error
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    panels = (
        (lambda r: r.mse, "test MSE", "Error after training up to each lag"),
        (lambda r: r.first_step_gradient, GRADIENT_LABEL, "Gradient at step 1, trained"),
        (lambda r: r.initial_gradient, GRADIENT_LABEL, "Gradient at step 1, untrained"),
    )
    for ax, (value, ylabel, title) in zip(axes, panels, strict=True):
        zeros = []
        for kind in dict.fromkeys(r.model for r in results):
            rows = [r for r in results if r.model == kind]
            zeros += [f"{MODEL_LABELS[kind]} at lag {r.lag}" for r in rows if value(r) == 0]
            ax.plot(
                [r.lag for r in rows],
                # a log axis cannot show 0 (a gradient lost to tanh saturation)
                [value(r) if value(r) > 0 else math.nan for r in rows],
                marker="o",
                linestyle="--" if kind == "lstm_forget_bias_0" else "-",
                label=MODEL_LABELS[kind],
            )
        ax.set(xscale="log", xlabel="lag T (steps)", ylabel=ylabel, title=title)
        lags = sorted({r.lag for r in results})
        ax.set_xticks(lags, [str(lag) for lag in lags], minor=False)
        ax.minorticks_off()
        if ax is not axes[0]:
            ax.set_yscale("log")
        if zeros:
            note = "not drawn, exactly 0: " + ", ".join(zeros)
            ax.text(0.02, 0.02, note, transform=ax.transAxes, fontsize=7, wrap=True)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].axhline(BASELINE_MSE, color="grey", linestyle=":", label="trivial baseline (1/6)")
    for ax in axes:
        ax.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def main(argv: Sequence[str] | None = None) -> list[Result]:
    """Run the comparison from the command line; returns every :class:`Result`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = Settings()
    parser.add_argument("--lags", type=int, nargs="+", default=list(defaults.lags))
    parser.add_argument("--hidden-size", type=int, default=defaults.hidden_size)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--updates", type=int, default=defaults.updates)
    parser.add_argument("--scratch-lag", type=int, default=defaults.scratch_lag)
    parser.add_argument("--scratch-updates", type=int, default=defaults.scratch_updates)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads; the matrices are tiny, so more threads only wait on each other",
    )
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--out", type=Path, default=Path("long_memory"), help="PNG folder")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    if any(lag < 2 for lag in args.lags):
        raise SystemExit(f"--lags must be at least 2 (one marker per half), got {args.lags}")
    settings = Settings(
        lags=tuple(sorted(args.lags)),
        hidden_size=args.hidden_size,
        batch_size=args.batch_size,
        updates=args.updates,
        scratch_lag=args.scratch_lag,
        scratch_updates=args.scratch_updates,
        seed=args.seed,
    )
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    curriculum = [r for kind in args.models for r in run_curriculum(settings, kind)]
    scratch = [run_from_scratch(settings, kind) for kind in args.models]
    print(format_tables(curriculum, scratch))
    print(f"\n{len(curriculum) + len(scratch)} runs in {time.perf_counter() - start:.0f} s")
    if not args.no_plot:
        print(f"figure: {plot(curriculum, args.out / 'long_memory.png')}")
    return curriculum + scratch


if __name__ == "__main__":
    main()
