"""Where a recogniser's errors are: unseen speakers or unseen words.

    python -m tasks.speech.error_analysis --ckpt outputs/speech/runs/<run> \\
        --input data/speech_synth/<hash>/test [--group-by voice]

Decodes an audiofolder split greedily and with the run's configured decoder, then prints

- CER per value of a metadata column (``voice`` in the embedded corpus: every test voice is
  held out from training), and
- the share of reference words recognised, split by whether the word occurs in the training
  transcripts the checkpoint carries. A reference word counts as recognised when it lies on
  a longest common subsequence of the reference and hypothesis words.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import torch
from torchmetrics.functional.text import char_error_rate

from tasks.harness.checkpoint import find_checkpoint, load_module
from tasks.speech.decoding.sweep import split_log_probs, transcripts

GREEDY = {"beam_size": 1, "lm_weight": 0.0, "char_lm_weight": 0.0}


def matched_words(ref: Sequence[str], hyp: Sequence[str]) -> list[bool]:
    """Per reference word: whether it lies on a longest common subsequence with ``hyp``."""
    n, m = len(ref), len(hyp)
    lcs = [[0] * (m + 1) for _ in range(n + 1)]  # lcs[i][j]: of ref[i:] and hyp[j:]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            if ref[i] == hyp[j]:
                lcs[i][j] = lcs[i + 1][j + 1] + 1
            else:
                lcs[i][j] = max(lcs[i + 1][j], lcs[i][j + 1])
    matched, i, j = [False] * n, 0, 0
    while i < n and j < m:
        if ref[i] == hyp[j]:
            matched[i] = True
            i, j = i + 1, j + 1
        elif lcs[i + 1][j] >= lcs[i][j + 1]:
            i += 1
        else:
            j += 1
    return matched


def word_recall(
    refs: Sequence[str], hyps: Sequence[str], known: set[str]
) -> dict[str, tuple[int, int]]:
    """``{"seen": (recognised, total), "unseen": (...)}`` over the reference words."""
    counts = {"seen": [0, 0], "unseen": [0, 0]}
    for ref, hyp in zip(refs, hyps, strict=True):
        words = ref.split()
        for word, hit in zip(words, matched_words(words, hyp.split()), strict=True):
            bucket = counts["seen" if word in known else "unseen"]
            bucket[0] += hit
            bucket[1] += 1
    return {k: (v[0], v[1]) for k, v in counts.items()}


def cer_by_group(
    refs: Sequence[str], hyps: Sequence[str], groups: Sequence[str]
) -> dict[str, tuple[float, int]]:
    """``{group: (CER, utterances)}``, sorted by CER."""
    members: dict[str, list[int]] = defaultdict(list)
    for i, group in enumerate(groups):
        members[group].append(i)
    rates = {
        g: (float(char_error_rate([hyps[i] for i in idx], [refs[i] for i in idx])), len(idx))
        for g, idx in members.items()
    }
    return dict(sorted(rates.items(), key=lambda kv: kv[1][0]))


parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--ckpt", required=True, help="a .ckpt or a run directory")
parser.add_argument("--input", required=True, help="an audiofolder split (metadata.csv)")
parser.add_argument("--text-column", default="transcription")
parser.add_argument("--group-by", default="voice", help="metadata column to split the CER by")
parser.add_argument("--limit", type=int, default=None, help="at most this many utterances")
parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")


def main() -> None:
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    module = load_module(find_checkpoint(args.ckpt))
    log_probs, refs, rows = split_log_probs(module, Path(args.input), args.text_column, args.limit)
    known = {w for t in module.hparams["artifacts"].get("transcripts") or [] for w in t.split()}
    groups = [row.extra.get(args.group_by, "?") for row in rows]
    for name, options in (("greedy", GREEDY), ("configured decoder", {})):
        hyps = transcripts(module, log_probs, options)
        print(f"\n{name}: CER {float(char_error_rate(hyps, refs)):.4f} by {args.group_by}")
        for group, (cer, n) in cer_by_group(refs, hyps, groups).items():
            print(f"  {group:<28}{cer:>8.4f}{n:>6} utterances")
        for kind, (hit, total) in word_recall(refs, hyps, known).items():
            share = hit / total if total else float("nan")
            print(f"  {kind} words recognised: {hit}/{total} = {share:.3f}")


if __name__ == "__main__":
    main()
