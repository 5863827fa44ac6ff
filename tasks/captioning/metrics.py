"""Corpus-level BLEU-1..4 and CIDEr-D against all references (pycocoevalcap scorers).

pycocoevalcap's ``Cider`` is CIDEr-D (Vedantam et al. 2015): tf-idf n-gram vectors (n=1..4)
with document frequencies from the evaluated references, clipped candidate counts and a
Gaussian length penalty (sigma=6), times 10. Its BLEU uses the closest reference length for
the brevity penalty. Both get text tokenised by :func:`tasks.captioning.tokenization.tokenize`.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider

from tasks.captioning.tokenization import tokenize


def caption_scores(
    hypotheses: Mapping[str, str], references: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """Scores of one hypothesis per image against that image's references.

    Returns:
        ``{"bleu1", "bleu2", "bleu3", "bleu4", "cider_d"}`` as floats (BLEU in [0, 1]).
    """
    if set(hypotheses) != set(references):
        raise ValueError("hypotheses and references must cover the same image ids")
    if not hypotheses:
        raise ValueError("cannot score an empty set of captions")
    res = {k: [" ".join(tokenize(h))] for k, h in hypotheses.items()}
    gts = {k: [" ".join(tokenize(r)) for r in refs] for k, refs in references.items()}
    with contextlib.redirect_stdout(io.StringIO()):  # the BLEU scorer prints its internals
        bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = Cider().compute_score(gts, res)
    scores = {f"bleu{n + 1}": float(b) for n, b in enumerate(bleu)}
    scores["cider_d"] = float(cider)
    return scores
