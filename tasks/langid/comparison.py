"""Side-by-side comparison with off-the-shelf identifiers (langid.py, lingua) on one test split.

Each tool is scored on the test items whose true language it supports; our model is
scored on the same subset, so every row pair compares like with like. A tool's answer
outside the subset's languages (and our ``und``) counts as wrong (it is a real mistake on
that text). Accuracy is also reported per text length (:data:`LENGTH_BINS`). Throughput is
sentences per second over the whole subset: langid.py one text at a time (its API), lingua
with its parallel batch API, ours in length-sorted batches (:func:`length_batches`) on CPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from tqdm import tqdm

from tasks.langid.data.locales import locale_to_language
from tasks.langid.metrics import confusion_matrix, summary_scores

Identify = Callable[[list[str]], list[str | None]]


LENGTH_BINS = ((0, 20), (21, 60), (61, None))
"""Text length bins (characters, inclusive; ``None``: no upper bound) of the per-length accuracy."""


def length_bin_name(low: int, high: int | None) -> str:
    """``"<= 20"``, ``"21-60"``, ``"> 60"``."""
    if low == 0:
        return f"<= {high}"
    return f"> {low - 1}" if high is None else f"{low}-{high}"


@dataclass
class ToolResult:
    """One row of the comparison table; ``by_length`` maps a :func:`length_bin_name` to
    ``(accuracy, n)`` (accuracy is NaN when the bin is empty)."""

    subset: str
    tool: str
    languages: int
    n: int
    acc: float
    macro_f1: float
    by_length: dict[str, tuple[float, int]]
    sentences_per_s: float


def normalise(code: str | None) -> str | None:
    """Tool output -> our label convention (``no`` -> ``nb``, ``iw`` -> ``he``, ...)."""
    return locale_to_language(code) if code else None


def langid_py_identifier() -> tuple[set[str], Identify]:
    """langid.py with its shipped model: supported languages and a per-text classifier."""
    from langid.langid import LanguageIdentifier, model

    identifier = LanguageIdentifier.from_modelstring(model, norm_probs=False)
    languages = {normalise(code) for code in identifier.nb_classes} - {None}

    def identify(texts: list[str]) -> list[str | None]:
        return [normalise(identifier.classify(t)[0]) for t in tqdm(texts, desc="langid.py")]

    return languages, identify  # type: ignore[return-value]


def lingua_identifier() -> tuple[set[str], Identify]:
    """lingua (all languages, models preloaded, offline) with its parallel batch API."""
    from lingua import Language, LanguageDetectorBuilder

    detector = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()
    languages = {lang.iso_code_639_1.name.lower() for lang in Language.all()}

    def identify(texts: list[str]) -> list[str | None]:
        found = detector.detect_languages_in_parallel_of(texts)
        return [normalise(lang.iso_code_639_1.name.lower()) if lang else None for lang in found]

    return {normalise(code) for code in languages} - {None}, identify  # type: ignore[return-value]


def score(
    subset: str,
    tool: str,
    texts: Sequence[str],
    truth: Sequence[str],
    predicted: Sequence[str | None],
    seconds: float,
    bins: Sequence[tuple[int, int | None]] = LENGTH_BINS,
) -> ToolResult:
    """Accuracy, macro-F1 (over the subset's languages) and accuracy per length bin."""
    labels = sorted(set(truth))
    index = {label: i for i, label in enumerate(labels)}
    t = [index[x] for x in truth]
    p = [index.get(x, -1) if x is not None else -1 for x in predicted]
    overall = summary_scores(confusion_matrix(t, p, len(labels)))
    by_length: dict[str, tuple[float, int]] = {}
    for low, high in bins:
        members = [
            i
            for i, text in enumerate(texts)
            if low <= len(text) and (high is None or len(text) <= high)
        ]
        correct = sum(t[i] == p[i] for i in members)
        by_length[length_bin_name(low, high)] = (
            correct / len(members) if members else float("nan"),
            len(members),
        )
    return ToolResult(
        subset=subset,
        tool=tool,
        languages=len(labels),
        n=len(texts),
        acc=overall["acc"],
        macro_f1=overall["macro_f1"],
        by_length=by_length,
        sentences_per_s=len(texts) / seconds if seconds > 0 else float("inf"),
    )


def timed(identify: Identify, texts: list[str]) -> tuple[list[str | None], float]:
    """``identify(texts)`` and the seconds of a second, timed pass over the same texts.

    The untimed first pass keeps one-off costs (a model's first allocations for each batch
    shape, lazy loading) out of the figure, so a tool's speed does not depend on which
    subset it happened to meet first.
    """
    identify(texts)
    started = time.perf_counter()
    predicted = identify(texts)
    return predicted, time.perf_counter() - started


def length_batches(texts: Sequence[str], batch_size: int, max_batch_chars: int) -> list[list[int]]:
    """Indices of ``texts`` in length order, cut into batches of at most ``batch_size`` texts
    whose padded size (texts x longest length) stays within ``max_batch_chars``.

    Short texts share large batches; long ones go in small batches, as larger padded
    batches run slower per text on CPU (docs/langid.md has the measurement).
    """
    batches: list[list[int]] = []
    for i in sorted(range(len(texts)), key=lambda i: len(texts[i])):
        last = batches[-1] if batches else None
        if last and len(last) < batch_size and (len(last) + 1) * len(texts[i]) <= max_batch_chars:
            last.append(i)
        else:
            batches.append([i])
    return batches


def our_identifier(module: torch.nn.Module, batch_size: int, max_batch_chars: int) -> Identify:
    """Our checkpoint through its predict path, in :func:`length_batches` (as a serving loop
    would bucket its requests), so a batch is padded to a length close to its members'."""

    def identify(texts: list[str]) -> list[str | None]:
        out: list[str | None] = [None] * len(texts)
        with torch.inference_mode():
            for chunk in tqdm(length_batches(texts, batch_size, max_batch_chars), desc="ours"):
                records = module.predict_items([texts[i] for i in chunk], {})
                for i, record in zip(chunk, records, strict=True):
                    out[i] = record["language"]
        return out

    return identify


def markdown_table(results: list[ToolResult]) -> str:
    """One row per result: subset, tool, sizes, accuracy, macro-F1, accuracy per length bin
    (with its number of sentences) and sentences/s."""
    bins = list(results[0].by_length) if results else []
    lines = [
        "| test subset | tool | languages | sentences | accuracy | macro-F1 | "
        + " | ".join(f"accuracy {b} chars (n)" for b in bins)
        + " | sentences/s |",
        "|---|---|---:|---:|---:|---:|" + "---:|" * len(bins) + "---:|",
    ]
    for r in results:
        cells = " | ".join(f"{acc:.4f} ({n})" if n else "- (0)" for acc, n in r.by_length.values())
        lines.append(
            f"| {r.subset} | {r.tool} | {r.languages} | {r.n} | {r.acc:.4f} | {r.macro_f1:.4f} "
            f"| {cells} | {r.sentences_per_s:,.0f} |"
        )
    return "\n".join(lines) + "\n"
