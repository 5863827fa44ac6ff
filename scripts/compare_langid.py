"""Compare our language identifier with langid.py and lingua on the same test split.

    python scripts/compare_langid.py --ckpt outputs/langid/runs/<run>/checkpoints/last.ckpt

Prints (and writes under --out) one table: accuracy, macro-F1, accuracy on texts of at most
20 characters and sentences/second for each tool on the test items of the languages it
supports, next to our model on exactly the same items.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path

import torch
from datasets import load_dataset

from tasks.harness.checkpoint import load_module
from tasks.langid.comparison import (
    ToolResult,
    langid_py_identifier,
    lingua_identifier,
    markdown_table,
    our_identifier,
    score,
    timed,
)
from tasks.langid.data.text_datamodule import cap_per_label

TOOLS = {"langid.py": langid_py_identifier, "lingua": lingua_identifier}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--ckpt", required=True, help="our langid checkpoint (.ckpt)")
    parser.add_argument("--test-file", default="data/langid_text/test.jsonl", help="JSONL or CSV")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--batch-size", type=int, default=256, help="our model's batch size")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    parser.add_argument("--short-chars", type=int, default=20)
    parser.add_argument(
        "--max-per-language", type=int, default=0, help="test items per language (0: all)"
    )
    parser.add_argument("--tools", default="langid.py,lingua", help=f"subset of {sorted(TOOLS)}")
    parser.add_argument("--out", default="results/langid_compare", help="folder for .md/.json")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    path = Path(args.test_file)
    if not path.exists():
        raise SystemExit(
            f"{path} not found: build the corpus first (python scripts/train.py task=langid)"
        )
    builder = "csv" if path.suffix == ".csv" else "json"
    data = load_dataset(builder, data_files={"test": str(path)})["test"]
    texts_all = [str(t) for t in data[args.text_column]]
    truth_all = [str(x) for x in data[args.label_column]]
    if args.max_per_language:
        texts_all, truth_all = cap_per_label(texts_all, truth_all, args.max_per_language)
    module = load_module(args.ckpt)
    ours = our_identifier(module, args.batch_size)
    ours_known = set(module.labels)
    results: list[ToolResult] = []
    subsets = {"all corpus languages": (ours_known, None)}
    for name in [t.strip() for t in args.tools.split(",") if t.strip()]:
        if name not in TOOLS:
            raise SystemExit(f"--tools: unknown tool {name!r}, choose from {sorted(TOOLS)}")
        languages, identify = TOOLS[name]()
        subsets[f"{name} languages"] = (languages & ours_known, (name, identify))
    for subset, (languages, tool) in subsets.items():
        keep = [i for i, label in enumerate(truth_all) if label in languages]
        texts = [texts_all[i] for i in keep]
        truth = [truth_all[i] for i in keep]
        if tool is not None:
            predicted, seconds = timed(tool[1], texts)
            results.append(
                score(subset, tool[0], texts, truth, predicted, seconds, args.short_chars)
            )
        predicted, seconds = timed(ours, texts)
        results.append(
            score(subset, "ours (LSTM)", texts, truth, predicted, seconds, args.short_chars)
        )
    table = markdown_table(results)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    header = (
        f"test file: {path} ({len(texts_all)} sentences); checkpoint: {args.ckpt}\n"
        f"CPU threads: {torch.get_num_threads()} (torch), load average at the end: {load}\n"
    )
    print(header + "\n" + table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare_langid.md").write_text(header + "\n" + table, encoding="utf-8")
    (out / "compare_langid.json").write_text(json.dumps([asdict(r) for r in results], indent=1))


if __name__ == "__main__":
    main()
