"""Restrict an identifier's answers to languages the caller names.

A caller who knows its texts can only be German, French or Italian gets better answers by
saying so (as langid.py's ``set_languages`` and lingua's ``from_languages`` allow): the
model then chooses among those languages alone, and a Romance text typed without accents
can no longer be read as Interlingua.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def candidate_mask(labels: Sequence[str], languages: Sequence[str] | None) -> torch.Tensor | None:
    """``(L,)`` bool mask of the model's ``labels`` that are in ``languages`` (``None``: all
    labels, no mask).

    Raises:
        ValueError: naming the languages the model does not know, or an empty list.
    """
    if languages is None:
        return None
    wanted = set(languages)
    unknown = sorted(wanted - set(labels))
    if unknown or not wanted:
        problem = f"{unknown} are not languages of this model" if unknown else "is empty"
        raise ValueError(
            f"options.languages {problem}; choose among its {len(labels)} labels: "
            f"{' '.join(sorted(labels))} (or null for all)"
        )
    return torch.tensor([label in wanted for label in labels])


def restrict(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``(B, L)`` logits with the labels outside ``mask`` set to ``-inf``: a softmax over
    them gives ``p(l | x, l in candidates)``, zero elsewhere."""
    if mask is None:
        return logits
    return logits.masked_fill(~mask.to(logits.device), float("-inf"))


def candidate_top_k(top_k: int, mask: torch.Tensor | None) -> int:
    """``top_k`` capped at the number of candidates: the others have probability 0."""
    return top_k if mask is None else min(top_k, int(mask.sum()))
