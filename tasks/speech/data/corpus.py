"""The embedded speech corpus ``speech_synth``: real English sentences spoken by espeak-ng voices.

Sentences are the English source strings (``msgid``) of the machine's gettext catalogs,
kept when they read as natural language (no format placeholders, file names, code, acronyms)
and normalised to spoken form. Each split gets its own sentences *and* its own voices, so the
test set measures recognition of unseen voices saying unseen sentences.

``prepare_speech_synth(cfg)`` renders the corpus once into
``<root>/<hash of the config and of the sentence source>/`` and returns that folder; later
calls find the ``COMPLETE`` marker and return at once. Next to the audio it writes
``lm_text.txt``: every sentence and phrase of the source except the validation and test
sentences, one per line, the text the decoder's n-gram LMs are estimated from (as
LibriSpeech ships its LM corpus without the test books).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tasks.audio.espeak_variants import WHISPER_SUFFIX, derived_variants
from tasks.audio.synthetic_corpus import UtteranceSpec, is_complete, render_corpus
from tasks.text.gettext_catalogs import find_catalogs, iter_catalog_messages
from tasks.text.spoken_form import PLACEHOLDER, strip_markup, to_spoken_form

# Bump when the generation procedure changes, so old caches are not reused.
CORPUS_VERSION = 3
SPLITS = ("train", "validation", "test")
# Language-model text written next to the audio: the source's sentences but the held-out ones.
LM_TEXT_FILE = "lm_text.txt"

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
# Characters that mark code, paths, options or formatting rather than prose.
_NOT_PROSE = re.compile(r"[/\\_=|`~<>\[\]{}^*;]|--|::|\.\w|\w\(|\s-\w")
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_ACRONYM = re.compile(r"\b[A-Z]{2,}\b|\b[a-z]+[A-Z]\w*|\b\w*\d[A-Za-z]\w*|\b[A-Za-z]+\d\w*")


@dataclass
class SpeechSynthConfig:
    """Size and variety of the generated corpus (the ``corpus`` block of ``data=speech_synth``)."""

    root: str = "data/speech_synth"
    seed: int = 1234
    n_train: int = 4000
    n_val: int = 200
    n_test: int = 400
    sample_rate: int = 16000
    audio_format: str = "flac"
    # split -> espeak-ng voices (accent + variant); the defaults are in conf/data/speech_synth.yaml
    voices: dict[str, list[str]] = field(default_factory=dict)
    # training voices also spoken whispered: "en+f1" adds the training voice "en+f1-whisper"
    whispered: tuple[str, ...] = ()
    rate: tuple[int, int] = (130, 210)
    pitch: tuple[int, int] = (25, 75)
    pitch_range: tuple[int, int] = (30, 70)
    noise_prob: float = 0.8
    noise_kinds: tuple[str, ...] = ("white", "pink", "brown", "babble")
    snr_db: tuple[float, float] = (10.0, 35.0)
    peak: tuple[float, float] = (0.3, 0.95)
    babble_utterances: int = 24
    min_words: int = 4
    max_words: int = 20
    locale_dirs: tuple[str, ...] = ("/usr/share/locale",)
    catalogs_per_domain: int = 3
    sentences_file: str | None = None
    workers: int = 2

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> SpeechSynthConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(
                f"unknown speech_synth corpus options {sorted(unknown)}; known: {sorted(known)}"
            )
        converted = {
            k: tuple(v) if isinstance(v, list | tuple) and k != "voices" else v
            for k, v in values.items()
        }
        if "voices" in converted:
            converted["voices"] = {str(k): list(v) for k, v in dict(converted["voices"]).items()}
        return cls(**converted)  # type: ignore[arg-type]


def is_natural_sentence(text: str, min_words: int = 3, max_words: int = 20) -> bool:
    """Whether a catalog string (markup already stripped) reads as an English sentence.

    Rejected: format placeholders, code/path/option syntax, acronyms and identifiers
    (``USB``, ``camelCase``, ``x86``), strings that do not start with a capital letter,
    mostly non-letter or non-ASCII text, and fewer than ``min_words`` or more than
    ``max_words`` words.
    """
    text = text.strip()
    if not text or not text[0].isupper() or PLACEHOLDER.search(text) or _NOT_PROSE.search(text):
        return False
    if _ACRONYM.search(text):
        return False
    letters = sum(c.isalpha() for c in text)
    ascii_letters = sum(c.isascii() and c.isalpha() for c in text)
    if letters < 0.7 * len(text.replace(" ", "")) or ascii_letters < 0.95 * letters:
        return False
    return min_words <= len(_WORD.findall(text)) <= max_words


def sentences_from_messages(
    messages: Iterable[str], min_words: int = 3, max_words: int = 20
) -> list[str]:
    """Natural sentences of ``messages`` in spoken form, de-duplicated and sorted.

    Messages are split at sentence ends and line breaks; markup and accelerator marks are
    removed before judging (they do not change the words), while messages with format
    placeholders are rejected (a removed placeholder leaves a broken sentence).
    """
    kept: set[str] = set()
    for message in messages:
        if PLACEHOLDER.search(message):
            continue
        for sentence in _SENTENCE_END.split(strip_markup(message)):
            if is_natural_sentence(sentence, min_words, max_words):
                spoken = to_spoken_form(sentence)
                if min_words <= len(spoken.split()) <= max_words:
                    kept.add(spoken)
    return sorted(kept)


def source_messages(cfg: SpeechSynthConfig) -> list[str]:
    """The raw text: the lines of ``sentences_file`` if set, else the catalogs' ``msgid``s."""
    if cfg.sentences_file:
        return Path(cfg.sentences_file).read_text(encoding="utf-8").splitlines()
    return sorted({m.msgid for m in iter_catalog_messages(selected_catalogs(cfg))})


def catalog_sentences(cfg: SpeechSynthConfig) -> list[str]:
    """The corpus's sentence pool: from ``sentences_file`` if set, else from gettext catalogs."""
    return sentences_from_messages(source_messages(cfg), cfg.min_words, cfg.max_words)


def corpus_lm_text(messages: Iterable[str], held_out: Iterable[str]) -> list[str]:
    """Text for the decoder's language models: every natural sentence or phrase of
    ``messages`` (1-40 words, spoken form, so also the short UI strings the spoken pool leaves
    out) except the ``held_out`` validation and test sentences, sorted."""
    return sorted(set(sentences_from_messages(messages, 1, 40)) - set(held_out))


def selected_catalogs(cfg: SpeechSynthConfig) -> list[Path]:
    """The ``catalogs_per_domain`` largest catalogs of every domain (e.g. ``git.mo``).

    All translations of a domain share its English source strings, so reading a few of its
    most complete catalogs finds nearly all of them at a fraction of the cost of all ~100.
    """
    by_domain: dict[str, list[Path]] = {}
    for path in find_catalogs(tuple(cfg.locale_dirs)):
        by_domain.setdefault(path.stem, []).append(path)
    selected = []
    for paths in by_domain.values():
        paths.sort(key=lambda p: (-p.stat().st_size, str(p)))
        selected.extend(paths[: cfg.catalogs_per_domain])
    return sorted(selected)


def source_fingerprint(cfg: SpeechSynthConfig) -> str:
    """Cheap identity of the sentence source (file names and sizes), for the cache key."""
    digest = hashlib.sha1()
    if cfg.sentences_file:
        digest.update(Path(cfg.sentences_file).read_bytes())
    else:
        for path in selected_catalogs(cfg):
            digest.update(f"{path}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()


def corpus_dir(cfg: SpeechSynthConfig) -> Path:
    """``<root>/<hash>``: the hash covers every option that changes the audio (the worker
    count included) and the sentence source."""
    options = dataclasses.asdict(cfg)
    options.pop("root")
    if not options["whispered"]:
        options.pop("whispered")  # corpora from before the option keep their folder
    options.update(version=CORPUS_VERSION, source=source_fingerprint(cfg))
    key = hashlib.sha1(json.dumps(options, sort_keys=True).encode()).hexdigest()[:12]
    return Path(cfg.root) / key


def split_voices(cfg: SpeechSynthConfig) -> dict[str, list[str]]:
    """The voices of every split: the configured ones, and the whispered copies of
    ``cfg.whispered`` in training."""
    for voice in cfg.whispered:
        if voice not in cfg.voices.get("train", []):
            raise ValueError(
                f"speech_synth corpus: whispered voice {voice!r} is not a training voice; "
                f"data.corpus.whispered takes voices of data.corpus.voices.train"
            )
        if "+" not in voice:
            raise ValueError(
                f"speech_synth corpus: whispered voice {voice!r} has no variant; write it as "
                f"<language>+<variant>, e.g. en+f1"
            )
    voices = {split: list(cfg.voices.get(split, [])) for split in SPLITS}
    voices["train"] += [voice + WHISPER_SUFFIX for voice in cfg.whispered]
    check_voices(voices)
    return voices


def extra_variants(cfg: SpeechSynthConfig) -> dict[str, str]:
    """The espeak-ng variants the corpus defines itself: the whispered copies."""
    return derived_variants(sorted({voice.split("+", 1)[1] for voice in cfg.whispered}))


def check_voices(voices: Mapping[str, list[str]]) -> None:
    """Every split needs voices, and no voice (language+variant) may serve two splits."""
    for split in SPLITS:
        if not voices.get(split):
            raise ValueError(f"speech_synth corpus: no voices given for split {split!r}")
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1 :]:
            shared = set(voices[a]) & set(voices[b])
            if shared:
                raise ValueError(
                    f"speech_synth corpus: voices {sorted(shared)} are in both {a!r} and {b!r}; "
                    "held-out splits need their own voices"
                )


def plan_corpus(
    cfg: SpeechSynthConfig, sentences: list[str]
) -> tuple[list[UtteranceSpec], list[UtteranceSpec]]:
    """Decide every utterance (and the babble sources) from ``cfg.seed``.

    The shuffled sentence pool is cut into disjoint test, validation and train parts: test
    and validation utterances each get their own sentence, training utterances cycle over
    the rest. Voices come from each split's own list; rate, pitch, noise kind, SNR and level
    are drawn uniformly from their configured ranges.
    """
    voices = split_voices(cfg)
    need = cfg.n_val + cfg.n_test + 1
    if len(sentences) < need:
        raise ValueError(
            f"speech_synth corpus: only {len(sentences)} usable sentences, at least {need} "
            f"needed (n_val + n_test + 1); install more gettext catalogs (language packs) or "
            f"set data.corpus.sentences_file to a text file with one sentence per line"
        )
    rng = np.random.default_rng(cfg.seed)
    pool = [sentences[i] for i in rng.permutation(len(sentences))]
    parts = {
        "test": pool[: cfg.n_test],
        "validation": pool[cfg.n_test : cfg.n_test + cfg.n_val],
        "train": pool[cfg.n_test + cfg.n_val :],
    }
    counts = {"train": cfg.n_train, "validation": cfg.n_val, "test": cfg.n_test}
    specs = []
    for split in SPLITS:
        for i in range(counts[split]):
            text = parts[split][i % len(parts[split])]
            name = f"{split}_{i:06d}.{cfg.audio_format}"
            specs.append(_draw_spec(cfg, rng, voices[split], split, name, text))
    babble = [
        UtteranceSpec(
            split="babble",
            file_name=f"babble_{i}",
            text=parts["train"][i % len(parts["train"])],
            voice=cfg.voices["train"][i % len(cfg.voices["train"])],
        )
        for i in range(cfg.babble_utterances if "babble" in cfg.noise_kinds else 0)
    ]
    return specs, babble


def _draw_spec(
    cfg: SpeechSynthConfig,
    rng: np.random.Generator,
    voices: list[str],
    split: str,
    file_name: str,
    text: str,
) -> UtteranceSpec:
    voice = voices[int(rng.integers(len(voices)))]
    noisy = rng.random() < cfg.noise_prob
    spec = UtteranceSpec(
        split=split,
        file_name=file_name,
        text=text,
        voice=voice,
        rate=int(rng.integers(cfg.rate[0], cfg.rate[1] + 1)),
        pitch=int(rng.integers(cfg.pitch[0], cfg.pitch[1] + 1)),
        pitch_range=int(rng.integers(cfg.pitch_range[0], cfg.pitch_range[1] + 1)),
        noise=str(cfg.noise_kinds[int(rng.integers(len(cfg.noise_kinds)))]) if noisy else None,
        snr_db=round(float(rng.uniform(*cfg.snr_db)), 2),
        peak=round(float(rng.uniform(*cfg.peak)), 3),
        seed=int(rng.integers(2**31)),
    )
    columns = {
        "transcription": text,
        "voice": voice,
        "rate": str(spec.rate),
        "pitch": str(spec.pitch),
        "noise": spec.noise or "none",
        "snr_db": str(spec.snr_db) if spec.noise else "",
    }
    return dataclasses.replace(spec, columns=columns)


def prepare_speech_synth(cfg: SpeechSynthConfig | Mapping[str, object]) -> Path:
    """Generate the corpus if it is not cached yet; return its folder."""
    if not isinstance(cfg, SpeechSynthConfig):
        cfg = SpeechSynthConfig.from_mapping(cfg)
    out_dir = corpus_dir(cfg)
    if is_complete(out_dir) and (out_dir / LM_TEXT_FILE).is_file():
        return out_dir
    messages = source_messages(cfg)
    sentences = sentences_from_messages(messages, cfg.min_words, cfg.max_words)
    specs, babble = plan_corpus(cfg, sentences)
    if not is_complete(out_dir):
        _render(cfg, out_dir, specs, babble, len(sentences))
    lm_text = corpus_lm_text(messages, (s.text for s in specs if s.split != "train"))
    tmp = out_dir / f"{LM_TEXT_FILE}.tmp-{os.getpid()}"
    tmp.write_text("".join(f"{line}\n" for line in lm_text), encoding="utf-8")
    tmp.replace(out_dir / LM_TEXT_FILE)  # atomic: a concurrent reader never sees half a file
    return out_dir


def _render(
    cfg: SpeechSynthConfig,
    out_dir: Path,
    specs: list[UtteranceSpec],
    babble: list[UtteranceSpec],
    n_sentences: int,
) -> None:
    summary = render_corpus(
        specs,
        out_dir,
        sample_rate=cfg.sample_rate,
        babble_specs=babble,
        workers=cfg.workers,
        extra_variants=extra_variants(cfg),
        extra_summary={
            "config": dataclasses.asdict(cfg) | {"root": None},
            "sentences_available": n_sentences,
        },
        desc="speech_synth",
    )
    print(
        f"speech_synth: {len(specs)} utterances, {summary['hours']} h of audio in "
        f"{summary.get('generation_seconds', 0)} s -> {out_dir}"
    )
