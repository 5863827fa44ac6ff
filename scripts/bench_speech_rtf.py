"""Real-time factor of speech predict on CPU: processing seconds / audio seconds.

    python scripts/bench_speech_rtf.py --ckpt outputs/speech/runs/<run> --input <wav folder>
        [--limit 50] [--threads 1] [--beam-size 8] [--lm-weight 0.3] [--streaming]
        [--batch-size 16]

Runs ``SpeechModule.predict_items`` (audio decoding, features, encoder, CTC decoding, word
alignment) over the files after one warm-up item, and prints the RTF of greedy decoding and
of the configured beam search side by side (target: <= 0.05), by wall clock and by this
process's CPU time. ``--batch-size`` > 1 adds the greedy decoder with files fed as predict
feeds them (grouped by size, ``batch-size`` per padded batch) against one file per call.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from tasks.batching import size_batches
from tasks.harness.checkpoint import find_checkpoint, load_module
from tasks.harness.predict import input_sizes
from tasks.speech.module import AUDIO_EXTENSIONS, SpeechModule


def audio_files(root: Path, limit: int) -> list[str]:
    files = (
        [root]
        if root.is_file()
        else sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    )
    if not files:
        raise SystemExit(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) under {root}")
    return [str(p) for p in files[:limit]]


def measure(
    module: SpeechModule, files: list[str], options: dict, batch_size: int = 1
) -> tuple[float, float, float]:
    """``(wall seconds, CPU seconds of this process, audio seconds)`` of predicting ``files``
    in calls of ``batch_size`` files grouped by size (one padded batch per call).

    CPU time is reported besides wall time because on a shared machine the wall clock also
    counts other jobs' time slices; with one thread, CPU time is the idle-machine wall time.
    """
    with torch.inference_mode():
        list(module.predict_items(files[:1], options))  # warm-up: allocator, thread pools
        batches = size_batches(input_sizes(files, "file"), batch_size)
        calls = [[files[i] for i in batch] for batch in batches]
        start, cpu_start = time.perf_counter(), time.process_time()
        records = [record for call in calls for record in module.predict_items(call, options)]
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return elapsed, cpu, sum(r["duration"] for r in records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True, help="a .ckpt or a run directory")
    parser.add_argument("--input", required=True, help="an audio file or a folder of them")
    parser.add_argument("--limit", type=int, default=50, help="at most this many files")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--beam-size", type=int, default=None, help="default: the model's")
    parser.add_argument("--lm-weight", type=float, default=None, help="default: the model's")
    parser.add_argument("--streaming", action="store_true", help="feed 0.32 s chunks")
    parser.add_argument("--batch-size", type=int, default=1, help="> 1: batched vs one by one")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    module = load_module(find_checkpoint(args.ckpt))
    files = audio_files(Path(args.input), args.limit)
    configured = {"streaming": args.streaming}
    if args.beam_size is not None:
        configured["beam_size"] = args.beam_size
    if args.lm_weight is not None:
        configured["lm_weight"] = args.lm_weight
    greedy = {"streaming": args.streaming, "beam_size": 1, "lm_weight": 0.0, "char_lm_weight": 0.0}
    rows = [("greedy", greedy, 1), ("configured", configured, 1)]
    if args.batch_size > 1:
        rows.append((f"greedy b={args.batch_size}", greedy, args.batch_size))
    print(f"{len(files)} files, {args.threads} thread(s), streaming={args.streaming}")
    print(f"{'decoder':<16}{'audio s':>9}{'wall s':>9}{'cpu s':>9}{'RTF wall':>10}{'RTF cpu':>9}")
    for name, options, batch_size in rows:
        elapsed, cpu, audio = measure(module, files, options, batch_size)
        print(
            f"{name:<16}{audio:>9.1f}{elapsed:>9.2f}{cpu:>9.2f}"
            f"{elapsed / audio:>10.4f}{cpu / audio:>9.4f}"
        )
    print(f"configured decoder: {module.decoding | configured}")


if __name__ == "__main__":
    main()
