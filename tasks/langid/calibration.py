"""Temperature scaling: calibrated language probabilities from a trained classifier.

A network trained with cross-entropy is usually over-confident. Dividing its logits by one
scalar temperature ``T`` fitted on held-out data (Guo et al., 2017, "On Calibration of
Modern Neural Networks") keeps every prediction (the arg-max does not move) and makes
``softmax(z / T)`` a probability one can threshold: below ``model.predict.und_threshold``
the predictor answers ``und``.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor

INVERSE_TEMPERATURE_RANGE = (0.02, 20.0)
"""Search interval of ``1 / T``."""


def fit_temperature(logits: Tensor, labels: Tensor, iterations: int = 60) -> float:
    """``T`` minimising the mean NLL of ``softmax(logits / T)`` on ``(N, K)`` logits and
    ``(N,)`` labels.

    The NLL is convex in ``beta = 1 / T`` (a log-sum-exp of linear functions minus a linear
    function), so a golden-section search over ``beta`` finds the optimum; it is
    deterministic and needs no learning rate.
    """
    logits, labels = logits.detach().double(), labels.detach()

    def nll(beta: float) -> float:
        return float(F.cross_entropy(logits * beta, labels))

    low, high = INVERSE_TEMPERATURE_RANGE
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = low + (1 - ratio) * (high - low), low + ratio * (high - low)
    f_a, f_b = nll(a), nll(b)
    for _ in range(iterations):
        if f_a <= f_b:
            high, b, f_b = b, a, f_a
            a = low + (1 - ratio) * (high - low)
            f_a = nll(a)
        else:
            low, a, f_a = a, b, f_b
            b = low + ratio * (high - low)
            f_b = nll(b)
    return 1.0 / ((low + high) / 2.0)


def expected_calibration_error(probabilities: Tensor, labels: Tensor, bins: int = 15) -> float:
    """``sum_b |B_b| / N * |accuracy(B_b) - confidence(B_b)|`` over ``bins`` equal-width
    confidence bins of the top-1 probability; ``probabilities (N, K)``, ``labels (N,)``."""
    confidence, predicted = probabilities.max(dim=1)
    correct = (predicted == labels).double()
    index = (confidence * bins).long().clamp_max(bins - 1)
    error = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            gap = correct[members].mean() - confidence[members].double().mean()
            error += float(members.double().mean() * gap.abs())
    return error
