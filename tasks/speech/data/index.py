"""The index of a speech split: which utterances are kept, with what transcript and length.

Building it decodes every row once (``tasks.audio.io.load_audio``, resampled and mixed down
to mono), normalises its transcript, skips bad samples with their reason and, when features
are cached, computes each kept utterance's log-mel there and then. Rows are checked in a
pool of forked processes (``workers > 1``) or in this process; results come back in source
order either way, so the index does not depend on the number of workers.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from tasks.audio.features import LogMel
from tasks.audio.io import AudioDecodeError, load_audio
from tasks.speech.data.sources import SpeechRow
from tasks.text.normalisers import TEXT_NORMALISERS
from tasks.text.vocabulary import Vocabulary


@dataclass(frozen=True)
class Kept:
    """A usable row: its normalised transcript, ``frames`` log-mel frames and, when
    features are cached, the float16 log-mel ``(T, F)``."""

    transcript: str
    frames: int
    features: Tensor | None


@dataclass(frozen=True)
class Skipped:
    """An unusable row: the reason it is counted under and a message naming it."""

    reason: str
    message: str


@dataclass
class SplitIndex:
    """The kept utterances of one split, in source order, and what was skipped."""

    ids: list[str] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)  # frames
    features: list[Tensor] | None = None  # (T, F) float16 each, when cached
    audio: list[Any] = field(default_factory=list)  # path / record, when not cached
    extra: list[dict[str, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # reason -> first message
    cmvn: tuple[Tensor, Tensor] | None = None  # feature mean/std over the split (train)

    def skip(self, reason: str, message: str) -> None:
        self.skipped[reason] += 1
        self.examples.setdefault(reason, message)

    def add(self, row: SpeechRow, outcome: Kept | Skipped) -> None:
        """Append ``row`` (features when the index caches them, else its audio reference)
        or count it as skipped."""
        if isinstance(outcome, Skipped):
            self.skip(outcome.reason, outcome.message)
            return
        self.ids.append(row.id)
        self.transcripts.append(outcome.transcript)
        self.lengths.append(outcome.frames)
        self.extra.append(dict(row.extra))
        if self.features is not None:
            self.features.append(outcome.features)
        else:
            self.audio.append(row.audio)

    def select(self, keep: list[int]) -> None:
        """Keep only the utterances at positions ``keep``."""
        self.ids = [self.ids[i] for i in keep]
        self.transcripts = [self.transcripts[i] for i in keep]
        self.lengths = [self.lengths[i] for i in keep]
        self.extra = [self.extra[i] for i in keep]
        if self.features is not None:
            self.features = [self.features[i] for i in keep]
        if self.audio:
            self.audio = [self.audio[i] for i in keep]

    def drop_unknown_characters(self, vocab: Vocabulary) -> None:
        """Skip the utterances whose transcript has a character outside ``vocab``."""
        keep = []
        for i, transcript in enumerate(self.transcripts):
            unknown = sorted({c for c in transcript if c not in vocab})
            if unknown:
                self.skip(
                    "characters not in vocabulary",
                    f"{self.ids[i]}: {''.join(unknown)!r} in {transcript!r}",
                )
            else:
                keep.append(i)
        if len(keep) < len(self.ids):
            self.select(keep)


@dataclass(frozen=True)
class IndexOptions:
    """What a row must satisfy to be kept, and how its features are computed.

    ``normaliser`` names a ``tasks.text.normalisers.TEXT_NORMALISERS`` entry; durations are
    in seconds; ``hop_length`` is the log-mel frame shift in samples; ``features`` are
    ``LogMel`` options (``None``: keep the audio reference instead of features).
    """

    normaliser: str
    sample_rate: int
    min_duration: float
    max_duration: float
    hop_length: int
    features: dict[str, Any] | None


class RowChecker:
    """Decodes and checks one row: ``checker(row) -> (row, Kept | Skipped)``.

    Pickles as its options alone, so a worker process receives a few numbers and builds
    its own log-mel front-end rather than being sent one.
    """

    def __init__(self, options: IndexOptions) -> None:
        self.options = options
        self.frontend = LogMel(**options.features).eval() if options.features else None

    def __reduce__(self) -> tuple[type[RowChecker], tuple[IndexOptions]]:
        return RowChecker, (self.options,)

    def __call__(self, row: SpeechRow) -> tuple[SpeechRow, Kept | Skipped]:
        options = self.options
        transcript = TEXT_NORMALISERS[options.normaliser](row.transcript)
        if not transcript.strip():
            return row, Skipped("empty transcript", f"{row.id}: transcript {row.transcript!r}")
        try:
            wave, _ = load_audio(row.audio, options.sample_rate, options.min_duration)
        except AudioDecodeError as err:
            return row, Skipped(f"audio {err.reason.replace('_', ' ')}", str(err))
        seconds = wave.shape[0] / options.sample_rate
        if seconds > options.max_duration:
            message = f"{row.id}: {seconds:.1f} s > {options.max_duration} s"
            return row, Skipped("too long", message)
        frames = wave.shape[0] // options.hop_length + 1  # as LogMel.num_frames
        features = None
        if self.frontend is not None:
            with torch.no_grad():
                features = self.frontend(wave[None])[0][0].half()
        return row, Kept(transcript, frames, features)


def build_index(
    rows: Iterable[SpeechRow], options: IndexOptions, workers: int, split: str
) -> SplitIndex:
    """Check every row of ``split`` once with ``workers`` processes (``<= 1``: this one)."""
    index = SplitIndex(features=[] if options.features is not None else None)
    checker = RowChecker(options)
    progress = dict(desc=f"indexing {split}", unit="utt", dynamic_ncols=True)
    # One thread per process: the per-utterance STFTs are small, and more threads than
    # cores slow them down several times over. Indexing in this process restores its thread
    # count afterwards, so training keeps every core.
    if workers > 1:
        # A forked child inherits locks other threads of this process may hold (progress
        # bars, loggers, executors' helper threads) and can wait on them forever; the fork
        # server's children start from a process that never ran any of those threads.
        context = multiprocessing.get_context("forkserver")
        with context.Pool(workers, torch.set_num_threads, (1,)) as pool:
            for row, outcome in tqdm(pool.imap(checker, rows, chunksize=16), **progress):
                index.add(row, outcome)
        return index
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for row in tqdm(rows, **progress):
            index.add(*checker(row))
    finally:
        torch.set_num_threads(threads)
    return index
