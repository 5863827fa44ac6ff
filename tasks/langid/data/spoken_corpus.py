"""The embedded spoken-LID corpus: the written corpus's sentences spoken by espeak-ng voices.

Each language's sentences come from the same split of the written corpus (so test
sentences are held out), and each split speaks through its own voice variants (``m1``,
``f3``, ``klatt2``...): validation and test voices are never heard in training. Rate,
pitch, intonation, noise colour, SNR and level are drawn per utterance from a seeded
generator. Rendering and the ``audiofolder`` layout (``<split>/*.flac`` +
``metadata.csv`` with ``label``, ``text``, ``voice`` columns) are those of
:mod:`tasks.audio.synthetic_corpus`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from tasks.audio.synthetic_corpus import UtteranceSpec, is_complete, render_corpus
from tasks.langid.data.splits import SPLITS
from tasks.langid.data.text_corpus import TextCorpusSettings, build_text_corpus

CORPUS_VERSION = 1


@dataclass(frozen=True)
class SpokenCorpusSettings:
    """Every knob of the spoken corpus (the Hydra ``data.corpus`` node).

    Args:
        voices: ISO 639 language -> espeak-ng language voice (``en: en-us``).
        variants: split -> voice variants; the splits' lists must be disjoint.
        per_language: split -> utterances per language.
        sentence_sources: written-corpus sources whose texts are spoken (their ``source``
            column; empty: every source). Sentence-like sources keep clips long enough to
            carry a language: names and single words are not.
        min_chars / max_chars: sentence length range (keeps clips a few seconds long).
        rate, pitch, pitch_range: uniform ranges of espeak's parameters.
        noise_prob, noise_kinds, snr_db, peak: additive noise and output level.
        sample_rate, audio_format, workers, seed: rendering.
        text_corpus: overrides of :class:`TextCorpusSettings` for the sentence source.
    """

    voices: Mapping[str, str]
    variants: Mapping[str, tuple[str, ...]]
    per_language: Mapping[str, int]
    sentence_sources: tuple[str, ...] = ()
    min_chars: int = 15
    max_chars: int = 90
    rate: tuple[int, int] = (140, 210)
    pitch: tuple[int, int] = (30, 70)
    pitch_range: tuple[int, int] = (30, 80)
    noise_prob: float = 0.6
    noise_kinds: tuple[str, ...] = ("white", "pink", "brown")
    snr_db: tuple[float, float] = (10.0, 30.0)
    peak: tuple[float, float] = (0.3, 0.95)
    sample_rate: int = 16000
    audio_format: str = "flac"
    workers: int = 2
    seed: int = 0
    text_corpus: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, options: Mapping[str, object]) -> SpokenCorpusSettings:
        options = dict(options)
        options["variants"] = {k: tuple(v) for k, v in dict(options["variants"]).items()}
        for key in ("sentence_sources", "rate", "pitch", "pitch_range", "noise_kinds", "snr_db", "peak"):
            if key in options:
                options[key] = tuple(options[key])  # type: ignore[arg-type]
        return cls(**options)  # type: ignore[arg-type]

    def check(self) -> None:
        for split in SPLITS:
            if not self.variants.get(split):
                raise ValueError(f"langid_spoken: data.corpus.variants.{split} is empty")
        for i, a in enumerate(SPLITS):
            for b in SPLITS[i + 1 :]:
                shared = set(self.variants[a]) & set(self.variants[b])
                if shared:
                    raise ValueError(
                        f"langid_spoken: voice variants {sorted(shared)} are in both {a} and {b}; "
                        "held-out splits need their own voices"
                    )


def corpus_dir(root: str | Path, settings: SpokenCorpusSettings) -> Path:
    """``<root>/<hash of the settings>``: a changed knob renders a new corpus."""
    options = asdict(settings)
    options.pop("workers")
    options["version"] = CORPUS_VERSION
    key = hashlib.sha1(json.dumps(options, sort_keys=True).encode()).hexdigest()[:12]
    return Path(root) / key


def read_sentences(
    text_root: Path, split: str, sources: tuple[str, ...] = ()
) -> dict[str, list[str]]:
    """Sentences per language of one split of the written corpus, in file order, from the
    rows of ``sources`` (empty: all rows)."""
    by_language: dict[str, list[str]] = {}
    with open(text_root / f"{split}.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if not sources or row.get("source") in sources:
                by_language.setdefault(row["label"], []).append(row["text"])
    return by_language


def plan_utterances(
    settings: SpokenCorpusSettings, sentences: Mapping[str, Mapping[str, list[str]]]
) -> list[UtteranceSpec]:
    """Every utterance of the corpus, decided from ``settings.seed``.

    ``sentences[split][language]`` lists the candidate sentences; a language with too few
    sentences of a usable length is an error naming it.
    """
    settings.check()
    rng = np.random.default_rng(settings.seed)
    specs = []
    for split in SPLITS:
        variants = settings.variants[split]
        for language, voice in sorted(settings.voices.items()):
            usable = [
                s
                for s in sentences[split].get(language, [])
                if settings.min_chars <= len(s) <= settings.max_chars
            ]
            need = settings.per_language[split]
            if len(usable) < need:
                raise ValueError(
                    f"langid_spoken: language {language!r} has {len(usable)} {split} sentences "
                    f"of {settings.min_chars}-{settings.max_chars} characters, {need} needed: "
                    "lower data.corpus.per_language or drop it from data.corpus.voices"
                )
            for i, text in enumerate(usable[:need]):
                variant = variants[int(rng.integers(len(variants)))]
                noisy = rng.random() < settings.noise_prob
                spec = UtteranceSpec(
                    split=split,
                    file_name=f"{language}_{i:05d}.{settings.audio_format}",
                    text=text,
                    voice=f"{voice}+{variant}",
                    rate=int(rng.integers(settings.rate[0], settings.rate[1] + 1)),
                    pitch=int(rng.integers(settings.pitch[0], settings.pitch[1] + 1)),
                    pitch_range=int(
                        rng.integers(settings.pitch_range[0], settings.pitch_range[1] + 1)
                    ),
                    noise=settings.noise_kinds[int(rng.integers(len(settings.noise_kinds)))]
                    if noisy
                    else None,
                    snr_db=round(float(rng.uniform(*settings.snr_db)), 2),
                    peak=round(float(rng.uniform(*settings.peak)), 3),
                    seed=int(rng.integers(2**31)),
                )
                columns = {"label": language, "text": text, "voice": spec.voice}
                specs.append(replace(spec, columns=columns))
    return specs


def build_spoken_corpus(
    root: str | Path, text_root: str | Path, settings: SpokenCorpusSettings
) -> Path:
    """Render the corpus under ``root`` unless it exists; returns its folder."""
    out_dir = corpus_dir(root, settings)
    if is_complete(out_dir):
        return out_dir
    text_root = build_text_corpus(text_root, TextCorpusSettings.from_dict(settings.text_corpus))
    sentences = {
        split: read_sentences(text_root, split, settings.sentence_sources) for split in SPLITS
    }
    specs = plan_utterances(settings, sentences)
    render_corpus(
        specs,
        out_dir,
        sample_rate=settings.sample_rate,
        workers=settings.workers,
        extra_summary={"languages": sorted(settings.voices)},
        desc="langid: synthesising speech",
    )
    return out_dir
