"""Scores from hand-made predictions, as used by the module and the compare script."""

import pytest
import torch

from tasks.langid.comparison import normalise, score
from tasks.langid.metrics import confusion_matrix, per_class_scores, summary_scores


def test_confusion_scores_with_abstentions() -> None:
    matrix = confusion_matrix([0, 0, 1, 1, 2], [0, 1, 1, -1, 2], 3)
    assert matrix.shape == (3, 4) and int(matrix[1, 3]) == 1  # -1 counted as "no answer"
    scores = per_class_scores(matrix)
    torch.testing.assert_close(
        scores["precision"], torch.tensor([1.0, 0.5, 1.0], dtype=torch.float64)
    )
    torch.testing.assert_close(scores["recall"], torch.tensor([0.5, 0.5, 1.0], dtype=torch.float64))
    summary = summary_scores(matrix)
    assert summary["acc"] == pytest.approx(3 / 5)
    assert summary["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)


def test_yardstick_score_counts_foreign_answers_as_wrong() -> None:
    texts = ["Guten Tag", "Bonjour à tous", "Hej", "Ciao a tutti voi"]
    truth, predicted = ["de", "fr", "sv", "it"], ["de", "fr", "da", None]
    result = score("s", "tool", texts, truth, predicted, 2.0, bins=((0, 5), (6, None)))
    assert result.acc == pytest.approx(0.5)
    assert result.by_length["<= 5"] == (0.0, 1)  # only "Hej" has <= 5 characters
    assert result.by_length["> 5"] == (pytest.approx(2 / 3), 3)
    assert result.sentences_per_s == pytest.approx(2.0)
    assert normalise("no") == "nb" and normalise("iw") == "he" and normalise(None) is None
