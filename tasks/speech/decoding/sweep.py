"""Grid search of the shallow-fusion weights on a held-out split.

    python -m tasks.speech.decoding.sweep --ckpt outputs/speech/runs/<run> \
        --input data/speech_synth/<hash>/validation \
        [--lm-weights 0,0.1,0.2,0.3,0.5] [--word-bonuses 0,0.5,1,2]
        [--char-lm-weights 0,0.4] [--beam-size 32] [--lm-text data/.../lm_text.txt]

The acoustic model runs once per utterance; every ``(lm_weight, word_bonus, char_lm_weight)``
triple then
re-decodes the cached log-probabilities with :class:`CTCPrefixBeamSearch` and is scored with
CER and WER (torchmetrics) against the folder's ``metadata.csv`` transcripts, normalised as
the run's training transcripts were (``data.text_normalizer``).
Greedy decoding is the first row. Choose the weights on validation, never on test.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence
from pathlib import Path

import torch
from torchmetrics.functional.text import char_error_rate, word_error_rate
from tqdm import tqdm

from tasks.audio.io import load_audio
from tasks.harness.checkpoint import find_checkpoint, load_module
from tasks.speech.data.sources import SpeechRow, iter_audiofolder
from tasks.speech.decoding.ctc import decode_batch, labels_to_text
from tasks.speech.module import SpeechModule
from tasks.text.lm_text import read_lm_text
from tasks.text.normalisers import TEXT_NORMALISERS


def run_normaliser(module: SpeechModule) -> str:
    """The run's ``data.text_normalizer``: references and LM text are normalised as its
    training transcripts were."""
    return module.run_config["data"]["text_normalizer"]


def split_log_probs(
    module: SpeechModule, folder: Path, text_column: str, limit: int | None
) -> tuple[list[torch.Tensor], list[str], list[SpeechRow]]:
    """CTC log-probs ``(T', V)``, references (normalised as the run's transcripts) and
    metadata rows of an audiofolder split."""
    normalise = TEXT_NORMALISERS[run_normaliser(module)]
    rows = list(iter_audiofolder(folder.parent, folder.name, text_column))[:limit]
    log_probs, refs = [], []
    with torch.inference_mode():
        for row in tqdm(rows, desc=f"acoustic model on {folder.name}"):
            wave, _ = load_audio(str(row.audio), module.sample_rate)
            log_probs.append(module.transcribe_log_probs(wave, module.predict_options({})).float())
            refs.append(normalise(row.transcript))
    return log_probs, refs, rows


def transcripts(
    module: SpeechModule, log_probs: Sequence[torch.Tensor], options: dict
) -> list[str]:
    """Decode each ``(T', V)`` of ``log_probs`` with ``options`` (``model.decoding`` keys)."""
    search = module.beam_search(options)
    return [
        labels_to_text(decode_batch(lp[None], torch.tensor([len(lp)]), search)[0], module.tokens)
        for lp in log_probs
    ]


def error_rates(
    module: SpeechModule, log_probs: Sequence[torch.Tensor], refs: list[str], options: dict
) -> tuple[float, float]:
    """``(CER, WER)`` of decoding ``log_probs`` with ``options`` (``model.decoding`` keys)."""
    hyps = transcripts(module, log_probs, options)
    return float(char_error_rate(hyps, refs)), float(word_error_rate(hyps, refs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True, help="a .ckpt or a run directory")
    parser.add_argument("--input", required=True, help="an audiofolder split (metadata.csv)")
    parser.add_argument("--text-column", default="transcription")
    parser.add_argument("--limit", type=int, default=None, help="at most this many utterances")
    parser.add_argument(
        "--beam-size", type=int, default=None, help="beam width (default: the run's)"
    )
    parser.add_argument("--lm-weights", default="0,0.1,0.2,0.3,0.5,0.8")
    parser.add_argument("--word-bonuses", default="0,0.5,1,2")
    parser.add_argument("--char-lm-weights", default="0")
    parser.add_argument(
        "--char-lm-order", type=int, default=None, help="character LM order (default: the run's)"
    )
    parser.add_argument(
        "--lm-text",
        default=None,
        help="LM text besides the training transcripts, instead of the run's: a file, one "
        "sentence per line (normalised and filtered as data.lm_text is in training)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    module = load_module(find_checkpoint(args.ckpt))
    beam_size = args.beam_size or int(module.decoding["beam_size"])
    if args.char_lm_order is not None:
        module.decoding["char_lm_order"] = args.char_lm_order
    if args.lm_text is not None:  # read as training reads data.lm_text
        lm_text = read_lm_text(Path(args.lm_text), run_normaliser(module), module.vocab)
        module.hparams["artifacts"]["lm_text"] = lm_text
    if args.char_lm_order is not None or args.lm_text is not None:
        module.build_language_models()
    log_probs, refs, _ = split_log_probs(module, Path(args.input), args.text_column, args.limit)
    grid = [("greedy", {"beam_size": 1, "lm_weight": 0.0, "char_lm_weight": 0.0})]
    for gamma, alpha, beta in itertools.product(
        [float(g) for g in args.char_lm_weights.split(",")],
        [float(a) for a in args.lm_weights.split(",")],
        [float(b) for b in args.word_bonuses.split(",")],
    ):
        options = {
            "beam_size": beam_size,
            "lm_weight": alpha,
            "word_bonus": beta if alpha > 0 else 0.0,  # the bonus comes with the word LM
            "char_lm_weight": gamma,
        }
        if all(options != seen for _, seen in grid):
            grid.append((f"beam {beam_size}", options))
    print(f"{len(refs)} utterances of {args.input}")
    print(f"{'decoder':<10}{'lm_weight':>10}{'word_bonus':>11}{'char_lm':>8}{'CER':>8}{'WER':>8}")
    for name, o in grid:
        cer, wer = error_rates(module, log_probs, refs, o)
        print(
            f"{name:<10}{o['lm_weight']:>10.2f}{o.get('word_bonus', 0.0):>11.2f}"
            f"{o['char_lm_weight']:>8.2f}{cer:>8.4f}{wer:>8.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
