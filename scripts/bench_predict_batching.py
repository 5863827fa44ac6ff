"""Predict throughput of written language ID under three batching policies, side by side.

    python scripts/bench_predict_batching.py --ckpt <langid run> --input texts.txt [--threads 1]

Scores the same texts (a file of one text per line, or a JSONL file's ``text`` field)
through the task's ``predict_items`` in calls cut three ways by
:func:`tasks.batching.size_batches`: in input order at ``--batch-size`` (every text of size
0, so nothing moves), in length order at ``--batch-size``, and in length order at
``--large-batch`` texts with at most ``--max-padded-size`` padded characters a call. Each
policy gets an untimed pass over the first 2,000 texts first. Prints texts/s, the speed-up
over input order and whether the answers equal input order's.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from tasks.batching import size_batches
from tasks.harness.checkpoint import find_checkpoint, load_module
from tasks.harness.module import TaskModule
from tasks.harness.predict import read_text_lines
from tasks.langid.comparison import batch_languages

WARM_UP = 2000


def read_texts(path: Path) -> list[str]:
    """One text per line, or the ``text`` field of each JSONL row."""
    if path.suffix == ".jsonl":
        return [json.loads(line)["text"] for line in path.read_text().splitlines() if line]
    return read_text_lines(path)


def texts_per_second(
    module: TaskModule, texts: list[str], batch_size: int, max_padded: int | None, ordered: bool
) -> tuple[float, list[str | None]]:
    def plan(items: list[str]) -> list[list[int]]:
        sizes = [len(t) for t in items] if ordered else [0] * len(items)
        return size_batches(sizes, batch_size, max_padded)

    batch_languages(module, texts[:WARM_UP], plan(texts[:WARM_UP]), {})
    started = time.perf_counter()
    found = batch_languages(module, texts, plan(texts), {})
    return len(texts) / (time.perf_counter() - started), found


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True, help="a task=langid .ckpt or run directory")
    parser.add_argument("--input", required=True, help="text file (one per line) or JSONL")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--large-batch", type=int, default=256)
    parser.add_argument("--max-padded-size", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    module = load_module(find_checkpoint(args.ckpt)).eval()
    if module.input_kind != "text":
        raise SystemExit(f"--ckpt {args.ckpt}: not a written language ID checkpoint")
    texts = read_texts(Path(args.input))
    policies = [
        (f"input order, batch {args.batch_size}", args.batch_size, None, False),
        (f"length order, batch {args.batch_size}", args.batch_size, None, True),
        (
            f"length order, batch {args.large_batch}, max_padded_size {args.max_padded_size}",
            args.large_batch,
            args.max_padded_size,
            True,
        ),
    ]
    print(f"{len(texts)} texts, {args.threads} thread(s)")
    baseline, reference = None, None
    for name, batch_size, max_padded, ordered in policies:
        speed, found = texts_per_second(module, texts, batch_size, max_padded, ordered)
        baseline, reference = baseline or speed, reference or found
        same = sum(a == b for a, b in zip(found, reference, strict=True)) / len(texts)
        print(f"{name}: {speed:,.0f} texts/s ({speed / baseline:.2f}x), same answers {same:.4f}")


if __name__ == "__main__":
    main()
