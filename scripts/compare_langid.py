"""Compare our language identifier with langid.py and lingua on the same test sentences.

    python scripts/compare_langid.py --ckpt outputs/langid/runs/<run>/checkpoints/last.ckpt
    python scripts/compare_langid.py --ckpt <default run> \\
        --held-out cldr=<run trained with data.held_out_source=cldr> --held-out emoji=<...>

Prints (and writes under --out) accuracy, macro-F1, accuracy per text length (<= 20,
21-60, > 60 characters) and sentences/second for each tool on the test items of the
languages it supports, next to our model on exactly the same items, all in one run:

* over the whole test file (our default checkpoint);
* per source (domain) of the test file, when it has a ``source`` column: our model is the
  ``--held-out`` checkpoint trained without that source (leave-one-domain-out) when one is
  given, else the default checkpoint (the source is then in-domain, marked so);
* a summary: accuracy per held-out source and the mean over sources, per tool pair.

Each tool answers among all the languages it knows, and so does our model, unless
--shared-languages restricts both to the languages of the pair (as a user who knows the
candidate languages would, with langid.py's set_languages or lingua's from_languages).

The summary is also drawn as bars (``compare_langid_sources.png`` under --out).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch
from datasets import load_dataset
from threadpoolctl import threadpool_limits

from tasks.harness.checkpoint import load_module
from tasks.langid.comparison import (
    ToolFactory,
    ToolResult,
    langid_py_identifier,
    lingua_identifier,
    markdown_table,
    our_identifier,
    score,
    timed,
)
from tasks.langid.data.text_datamodule import SOURCE_COLUMN, cap_per_label
from tasks.langid.source_accuracy_plot import plot_source_accuracy

TOOLS = {"langid.py": langid_py_identifier, "lingua": lingua_identifier}
OURS = "ours (LSTM)"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--ckpt", required=True, help="our langid checkpoint (.ckpt)")
    parser.add_argument(
        "--held-out",
        action="append",
        default=[],
        metavar="SOURCE=CKPT",
        help="checkpoint trained without SOURCE (data.held_out_source=SOURCE); repeatable",
    )
    parser.add_argument("--test-file", default="data/langid_text/test.jsonl", help="JSONL or CSV")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--batch-size", type=int, default=256, help="our model's batch size")
    parser.add_argument(
        "--batch-chars",
        type=int,
        default=8192,
        help="our batches' padded size at most (texts x longest text, characters)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="threads of torch, of the tools' BLAS/OpenMP pools and of lingua's Rayon pool "
        "(0: their defaults)",
    )
    parser.add_argument(
        "--max-per-language", type=int, default=0, help="test items per language (0: all)"
    )
    parser.add_argument("--tools", default="langid.py,lingua", help=f"subset of {sorted(TOOLS)}")
    parser.add_argument(
        "--shared-languages",
        action="store_true",
        help="each tool and ours answer among the languages both support (langid.py's "
        "set_languages, lingua's from_languages, our options.languages) instead of all "
        "their own",
    )
    parser.add_argument("--out", default="results/langid_compare", help="folder for .md/.json")
    return parser.parse_args(argv)


def held_out_checkpoints(pairs: list[str]) -> dict[str, str]:
    """``["cldr=a.ckpt"]`` -> ``{"cldr": "a.ckpt"}``, with a clear error on a bad pair."""
    found: dict[str, str] = {}
    for pair in pairs:
        source, sep, path = pair.partition("=")
        if not sep or not source or not path:
            raise SystemExit(f"--held-out {pair!r}: expected SOURCE=CKPT, e.g. cldr=run/last.ckpt")
        found[source] = path
    return found


def compare(
    subset: str,
    texts: list[str],
    truth: list[str],
    tools: dict[str, tuple[set[str], ToolFactory]],
    ours: ToolFactory,
    our_labels: set[str],
    our_name: str,
    shared_languages: bool = False,
) -> list[ToolResult]:
    """For each tool, the tool and our model on the texts of the languages both support
    (with ``shared_languages``, both answer among those languages alone)."""
    results: list[ToolResult] = []
    for name, (languages, make_tool) in tools.items():
        shared = frozenset(languages & our_labels)
        keep = [i for i, label in enumerate(truth) if label in shared]
        if not keep:
            continue
        sub_texts, sub_truth = [texts[i] for i in keep], [truth[i] for i in keep]
        label = f"{subset}, {name} languages"
        candidates = shared if shared_languages else None
        predicted, seconds = timed(make_tool(candidates), sub_texts)
        results.append(score(label, name, sub_texts, sub_truth, predicted, seconds))
        predicted, seconds = timed(ours(candidates), sub_texts)
        results.append(score(label, our_name, sub_texts, sub_truth, predicted, seconds))
    return results


SourceRows = list[tuple[str, str, list[ToolResult]]]
"""``(source, which of our models scored it, the results on its sentences)`` per source."""


def paired_results(results: list[ToolResult]) -> dict[str, tuple[ToolResult, ToolResult]]:
    """``{tool: (the tool's result, ours on the same sentences)}`` of one source."""
    pairs = {}
    for tool in dict.fromkeys(r.tool for r in results if not r.tool.startswith(OURS)):
        pair = [r for r in results if r.subset.endswith(f"{tool} languages")]
        theirs = next((r for r in pair if r.tool == tool), None)
        mine = next((r for r in pair if r.tool != tool), None)
        if theirs is not None and mine is not None:
            pairs[tool] = (theirs, mine)
    return pairs


def source_accuracy(rows: SourceRows) -> dict[str, dict[str, tuple[float, float]]]:
    """``{source: {tool: (its accuracy, ours)}}`` plus ``mean over sources`` per tool."""
    accuracy = {
        source: {tool: (t.acc, m.acc) for tool, (t, m) in paired_results(found).items()}
        for source, _, found in rows
    }
    tools = dict.fromkeys(tool for pairs in accuracy.values() for tool in pairs)
    accuracy["mean over sources"] = {
        tool: (
            statistics.fmean(pairs[tool][0] for pairs in accuracy.values() if tool in pairs),
            statistics.fmean(pairs[tool][1] for pairs in accuracy.values() if tool in pairs),
        )
        for tool in tools
    }
    return accuracy


def summary_table(rows: SourceRows) -> str:
    """Accuracy per held-out source: each tool next to ours on the same sentences, + mean."""
    accuracy = source_accuracy(rows)
    tools = list(accuracy["mean over sources"])
    header = "| held-out source | our model | " + " | ".join(
        f"{t} (n) | ours on {t}'s languages" for t in tools
    )
    lines = [header + " |", "|---|---|" + "---:|---:|" * len(tools)]
    for source, model, found in rows:
        pairs = paired_results(found)
        cells = [
            f"{pairs[t][0].acc:.4f} ({pairs[t][0].n}) | {pairs[t][1].acc:.4f}"
            if t in pairs
            else "- | -"
            for t in tools
        ]
        lines.append(f"| {source} | {model} | " + " | ".join(cells) + " |")
    means = [
        f"{theirs:.4f} | {mine:.4f}" for theirs, mine in accuracy["mean over sources"].values()
    ]
    lines.append("| mean over sources | | " + " | ".join(means) + " |")
    return "\n".join(lines) + "\n"


def plot_per_source(rows: SourceRows, path: Path) -> Path:
    """The summary table as bars; sources scored by a held-out model are marked so."""
    held_out = {source for source, model, _ in rows if model.startswith("trained without")}
    accuracy = {
        f"{source}\n(held out)" if source in held_out else source: pairs
        for source, pairs in source_accuracy(rows).items()
    }
    accuracy["mean over\nsources"] = accuracy.pop("mean over sources")
    return plot_source_accuracy(
        accuracy, path, "Accuracy per source: each tool and ours on the same sentences"
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
        # lingua's batch API runs on a Rayon pool, sized from this variable when it starts.
        os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    # langid.py scores with numpy: unless its BLAS pool gets the same threads as ours, it
    # uses every core, and on its small products that runs slower than one thread.
    with threadpool_limits(args.threads or None):
        compare_and_report(args)


def compare_and_report(args: argparse.Namespace) -> None:
    path = Path(args.test_file)
    if not path.exists():
        raise SystemExit(
            f"{path} not found: build the corpus first (python scripts/train.py task=langid)"
        )
    held_out = held_out_checkpoints(args.held_out)
    builder = "csv" if path.suffix == ".csv" else "json"
    data = load_dataset(builder, data_files={"test": str(path)})["test"]
    texts_all = [str(t) for t in data[args.text_column]]
    truth_all = [str(x) for x in data[args.label_column]]
    sources_all = (
        [str(s) for s in data[SOURCE_COLUMN]] if SOURCE_COLUMN in data.column_names else None
    )
    if args.max_per_language:
        index, truth_all = cap_per_label(
            list(range(len(texts_all))), truth_all, args.max_per_language
        )
        texts_all = [texts_all[i] for i in index]
        sources_all = [sources_all[i] for i in index] if sources_all else None
    unknown = sorted(set(held_out) - set(sources_all or []))
    if unknown:
        raise SystemExit(
            f"--held-out {unknown}: no such source in {path} "
            f"(its sources: {sorted(set(sources_all or []))})"
        )
    tools: dict[str, tuple[set[str], ToolFactory]] = {}
    for name in [t.strip() for t in args.tools.split(",") if t.strip()]:
        if name not in TOOLS:
            raise SystemExit(f"--tools: unknown tool {name!r}, choose from {sorted(TOOLS)}")
        tools[name] = TOOLS[name]()
    module = load_module(args.ckpt)
    ours, our_labels = our_identifier(module, args.batch_size, args.batch_chars), set(module.labels)
    mine = [i for i, label in enumerate(truth_all) if label in our_labels]
    texts_mine, truth_mine = [texts_all[i] for i in mine], [truth_all[i] for i in mine]
    predicted, seconds = timed(ours(None), texts_mine)
    results = [
        score("all sources, all our languages", OURS, texts_mine, truth_mine, predicted, seconds)
    ]
    shared = args.shared_languages
    results += compare("all sources", texts_all, truth_all, tools, ours, our_labels, OURS, shared)
    per_source: SourceRows = []
    for source in sorted(set(sources_all or [])):
        keep = [i for i, s in enumerate(sources_all or []) if s == source]
        texts, truth = [texts_all[i] for i in keep], [truth_all[i] for i in keep]
        if source in held_out:
            loo = load_module(held_out[source])
            model, name = f"trained without {source}", f"{OURS}, without {source}"
            identify, labels = (
                our_identifier(loo, args.batch_size, args.batch_chars),
                set(loo.labels),
            )
        else:
            model, name, identify, labels = "default (in-domain)", OURS, ours, our_labels
        found = compare(source, texts, truth, tools, identify, labels, name, shared)
        per_source.append((source, model, found))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    report = [
        f"test file: {path} ({len(texts_all)} sentences); checkpoint: {args.ckpt}",
        *(f"held out {s}: {c}" for s, c in sorted(held_out.items())),
        f"CPU threads: {torch.get_num_threads()} (torch), BLAS/OpenMP/Rayon pools: "
        f"{args.threads or 'default'}, load average at the end: {load}",
        "candidates: the languages each tool and ours both support"
        if shared
        else "candidates: every language of each tool",
        "",
        "## All sources",
        "",
        markdown_table(results),
    ]
    if per_source:
        report += [
            "## Per source",
            "",
            markdown_table([r for _, _, found in per_source for r in found]),
            "## Accuracy per source",
            "",
            summary_table(per_source),
        ]
    text = "\n".join(report)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare_langid.md").write_text(text, encoding="utf-8")
    payload = {
        "all": [asdict(r) for r in results],
        "per_source": {s: [asdict(r) for r in found] for s, _, found in per_source},
    }
    (out / "compare_langid.json").write_text(json.dumps(payload, indent=1))
    if per_source and tools:
        print(f"plot: {plot_per_source(per_source, out / 'compare_langid_sources.png')}")


if __name__ == "__main__":
    main()
