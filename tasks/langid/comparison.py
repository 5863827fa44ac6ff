"""Side-by-side comparison with off-the-shelf identifiers (langid.py, lingua) on one test split.

Each tool is scored on the test items whose true language it supports; our model is
scored on the same subset, so every row pair compares like with like. A tool's answer
outside the subset's languages (and our ``und``) counts as wrong (it is a real mistake on
that text). Accuracy is also reported per text length (:data:`LENGTH_BINS`). Throughput is
sentences per second over the whole subset: langid.py one text at a time (its API), lingua
with its parallel batch API, ours in length-sorted batches
(:func:`tasks.batching.size_batches`) on CPU. Given candidate languages (``scripts/
compare_langid.py --shared-languages``), the tool and ours answer among them alone.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from tqdm import tqdm

from tasks.batching import size_batches
from tasks.langid.data.locales import locale_to_language
from tasks.langid.metrics import confusion_matrix, summary_scores

Identify = Callable[[list[str]], list[str | None]]
ToolFactory = Callable[[frozenset[str] | None], Identify]
"""An identifier answering among the given candidate languages (``None``: all it knows)."""


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


def langid_py_identifier() -> tuple[set[str], ToolFactory]:
    """langid.py with its shipped model: supported languages and a per-text classifier
    (restricted with its ``set_languages`` when given candidates)."""
    from langid.langid import LanguageIdentifier, model

    identifier = LanguageIdentifier.from_modelstring(model, norm_probs=False)
    codes = list(identifier.nb_classes)

    def make(candidates: frozenset[str] | None) -> Identify:
        chosen = codes if candidates is None else [c for c in codes if normalise(c) in candidates]

        def identify(texts: list[str]) -> list[str | None]:
            identifier.set_languages(chosen)  # one identifier shared by every candidate set
            return [normalise(identifier.classify(t)[0]) for t in tqdm(texts, desc="langid.py")]

        return identify

    return {normalise(code) for code in codes} - {None}, make  # type: ignore[return-value]


def lingua_identifier() -> tuple[set[str], ToolFactory]:
    """lingua (models preloaded, offline) with its parallel batch API: all its languages, or
    the candidates (``from_languages``)."""
    from lingua import Language, LanguageDetectorBuilder

    def code(language: Language) -> str | None:
        return normalise(language.iso_code_639_1.name.lower())

    @functools.cache
    def make(candidates: frozenset[str] | None) -> Identify:
        builder = (
            LanguageDetectorBuilder.from_all_languages()
            if candidates is None
            else LanguageDetectorBuilder.from_languages(
                *(lang for lang in Language.all() if code(lang) in candidates)
            )
        )
        detector = builder.with_preloaded_language_models().build()

        def identify(texts: list[str]) -> list[str | None]:
            found = detector.detect_languages_in_parallel_of(texts)
            return [code(lang) if lang else None for lang in found]

        return identify

    return {code(lang) for lang in Language.all()} - {None}, make  # type: ignore[return-value]


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


def batch_languages(
    module: torch.nn.Module,
    texts: list[str],
    batches: Sequence[Sequence[int]],
    options: dict[str, object],
    desc: str | None = None,
) -> list[str | None]:
    """Each text's answer (``language``), in input order, from ``module.predict_items`` called
    once per batch of indices into ``texts`` (a progress bar named ``desc`` when given)."""
    out: list[str | None] = [None] * len(texts)
    with torch.inference_mode():
        for batch in tqdm(batches, desc=desc, disable=desc is None):
            records = module.predict_items([texts[i] for i in batch], options)
            for i, record in zip(batch, records, strict=True):
                out[i] = record["language"]
    return out


def our_identifier(module: torch.nn.Module, batch_size: int, max_batch_chars: int) -> ToolFactory:
    """Our checkpoint through its predict path (candidates: ``options.languages``), in
    :func:`tasks.batching.size_batches` of the texts' lengths (as a serving loop would bucket
    its requests): at most ``batch_size`` texts and ``max_batch_chars`` padded characters a
    batch."""

    def make(candidates: frozenset[str] | None) -> Identify:
        options = {} if candidates is None else {"languages": sorted(candidates)}

        def identify(texts: list[str]) -> list[str | None]:
            batches = size_batches([len(t) for t in texts], batch_size, max_batch_chars)
            return batch_languages(module, texts, batches, options, desc="ours")

        return identify

    return make


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
