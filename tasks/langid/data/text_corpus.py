"""The embedded written-LID corpus: labelled text of several domains, with provenance.

Pipeline: read every source of ``data.corpus.sources`` (:mod:`tasks.langid.data.sources`:
desktop UI catalogs, Django's catalogs, CLDR names, Faker's job titles and words, emoji
names; word sequences drawn from word-frequency lists, for training only), each already cleaned to natural language -> compare texts by
their normalised form (:func:`tasks.langid.data.splits.dedup_key`) -> drop a text claimed by several
languages; keep a text several sources share once, for the first source listed -> cap
each language of each source (``max_per_source``) -> keep languages with enough text from
enough sources -> split by the hash of the normalised text -> write
``{train,validation,test}.jsonl`` rows ``{text, label, source, licence, version, id}`` and
``manifest.json`` (settings, sources with domain, licence and version, counts).

The build is deterministic (same sources and settings -> byte-identical files) and cached:
it is skipped when ``manifest.json`` records the same settings and source versions.
Leave-one-domain-out training reads the same files: ``data.held_out_source`` drops a
source from training and validation and tests on its test rows alone
(:mod:`tasks.langid.data.text_datamodule`).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from tasks.langid.data.cleaning import CleaningRules
from tasks.langid.data.sources import TextSource, make_source
from tasks.langid.data.splits import SPLITS, dedup_key, split_of, unit_hash

log = logging.getLogger(__name__)

DEFAULT_SOURCES: dict[str, dict[str, Any]] = {
    "gettext": {
        "locale_dirs": ["/usr/share/locale"],
        "python_packages": True,
        "exclude_packages": ["django", "sphinx", "sphinxcontrib"],
        "exclude_domains": ["iso_*"],
        "english_from_msgids": True,
    },
    "django": {},
    "sphinx": {},
    "cldr": {"extra_locales": ["sr_Latn", "zh_Hant"]},
    "faker": {"skip_locales": ["la"]},
    "emoji": {},
    "wordfreq": {
        "texts_per_language": 1000,
        "vocabulary": 30000,
        "exponent": 0.5,
        "mean_words": 6.0,
        "max_words": 25,
        "capitalised": 0.5,
        "terminated": 0.3,
        "seed": 0,
        "languages": None,
        "skip_languages": ["sh"],
    },
}
"""The sources of ``conf/data/langid_text.yaml`` (kept equal: the spoken corpus builds the
written one from these defaults into the same folder, and the cache compares settings)."""
DEFAULT_CAPS = {
    "gettext": 2000,
    "django": 1000,
    "sphinx": 1000,
    "cldr": 1000,
    "faker": 1000,
    "emoji": 1000,
}


class CorpusError(RuntimeError):
    """The machine's sources cannot yield the requested corpus."""


@dataclass(frozen=True)
class TextCorpusSettings:
    """Every knob of the corpus build (the Hydra ``data.corpus`` node).

    Args:
        sources: source name -> its reader's options (:data:`tasks.langid.data.sources.SOURCES`).
            The order matters once: a text several sources share is kept for the first.
        max_per_source: per source, the cap on texts of one language (kept by salted hash,
            not source order); a source not listed is not capped.
        min_per_language: keep a language only with at least this many texts in total...
        min_sources: ...coming from at least this many sources.
        min_languages: fail when fewer languages survive.
        val_fraction / test_fraction: hash-split fractions.
        rules: what counts as natural language (:class:`CleaningRules`).
    """

    sources: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: json.loads(json.dumps(DEFAULT_SOURCES))
    )
    max_per_source: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CAPS))
    min_per_language: int = 1000
    min_sources: int = 2
    min_languages: int = 40
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    rules: CleaningRules = field(default_factory=CleaningRules)

    @classmethod
    def from_dict(cls, options: Mapping[str, Any]) -> TextCorpusSettings:
        options = dict(options)
        rules = CleaningRules(**options.pop("rules", {}))
        if "sources" in options:
            options["sources"] = {
                name: dict(reader or {}) for name, reader in dict(options["sources"]).items()
            }
        if "max_per_source" in options:
            options["max_per_source"] = dict(options["max_per_source"])
        return cls(rules=rules, **options)


@dataclass(frozen=True)
class CorpusRow:
    """One kept text with its label and provenance; ``key`` is its normalised form."""

    key: str
    text: str
    label: str
    source: str
    original_id: str


def read_sources(
    sources: list[TextSource], rules: CleaningRules
) -> tuple[dict[str, CorpusRow], dict[str, int]]:
    """``{normalised text: row}`` over all sources, and counts of what was dropped.

    A normalised text claimed by two languages ("Internet", "OK") carries no label and is
    dropped; one several sources give with the same language is kept for the first source.
    Training-only sources are read last and only add texts no other source has.
    """
    rows: dict[str, CorpusRow] = {}
    ambiguous: set[str] = set()
    dropped = {"repeated": 0, "claimed by several languages": 0, "training-only repeats": 0}
    for source in sorted(sources, key=lambda s: s.training_only):
        for sentence in tqdm(
            source.sentences(rules), desc=f"langid corpus: {source.name}", unit=" texts"
        ):
            key = dedup_key(sentence.text)
            if key in ambiguous:
                continue
            kept = rows.get(key)
            if kept is None:
                rows[key] = CorpusRow(
                    key, sentence.text, sentence.language, source.name, sentence.original_id
                )
            elif source.training_only:
                dropped["training-only repeats"] += 1
            elif kept.label != sentence.language:
                ambiguous.add(key)
                del rows[key]
            else:
                dropped["repeated"] += 1
    dropped["claimed by several languages"] = len(ambiguous)
    return rows, dropped


def select_rows(
    rows: dict[str, CorpusRow],
    settings: TextCorpusSettings,
    training_only: frozenset[str] = frozenset(),
) -> dict[str, list[CorpusRow]]:
    """``{split: rows}`` after the per-source caps and the language filter, each split in
    hash order (a function of the texts alone). Rows of the ``training_only`` sources go
    to the training split and do not count towards keeping their language."""
    groups: dict[tuple[str, str], list[CorpusRow]] = defaultdict(list)
    for row in rows.values():
        groups[(row.source, row.label)].append(row)
    by_language: dict[str, list[CorpusRow]] = defaultdict(list)
    for (source, language), members in sorted(groups.items()):
        members.sort(key=lambda r: (unit_hash(r.key, "keep:"), r.key))
        cap = settings.max_per_source.get(source)
        by_language[language].extend(members if cap is None else members[:cap])
    result: dict[str, list[CorpusRow]] = {split: [] for split in SPLITS}
    for language in sorted(by_language):
        members = by_language[language]
        evidence = [r for r in members if r.source not in training_only]
        if len(evidence) < settings.min_per_language:
            continue
        if len({r.source for r in evidence}) < settings.min_sources:
            continue
        for row in members:
            split = (
                "train"
                if row.source in training_only
                else split_of(row.key, settings.val_fraction, settings.test_fraction)
            )
            result[split].append(row)
    for split_rows in result.values():
        split_rows.sort(key=lambda r: (unit_hash(r.key, "order:"), r.key))
    return result


def source_descriptions(sources: list[TextSource]) -> dict[str, dict[str, str]]:
    """``{name: {domain, licence, version}}``: the provenance recorded in the manifest."""
    return {
        s.name: {"domain": s.domain, "licence": s.licence, "version": s.version()} for s in sources
    }


def corpus_fingerprint(
    settings: TextCorpusSettings, sources: list[TextSource] | None = None
) -> dict[str, Any]:
    """``{"settings", "sources"}``: what ``manifest.json`` must record for a cached build to
    be reused (the settings and every source's domain, licence and version)."""
    if sources is None:
        sources = [make_source(name, options) for name, options in settings.sources.items()]
    return {
        "settings": json.loads(json.dumps(asdict(settings))),
        "sources": source_descriptions(sources),
    }


def build_text_corpus(root: str | Path, settings: TextCorpusSettings) -> Path:
    """Write the corpus under ``root`` unless an identical build is already there."""
    root = Path(root)
    manifest_path = root / "manifest.json"
    sources = [make_source(name, options) for name, options in settings.sources.items()]
    fingerprint = corpus_fingerprint(settings, sources)
    described = fingerprint["sources"]
    complete = manifest_path.exists() and all((root / f"{s}.jsonl").exists() for s in SPLITS)
    if complete:
        manifest = json.loads(manifest_path.read_text())
        if {key: manifest.get(key) for key in fingerprint} == fingerprint:
            return root
    rows, dropped = read_sources(sources, settings.rules)
    splits = select_rows(
        rows, settings, frozenset(s.name for s in sources if s.training_only)
    )
    languages = sorted({r.label for r in splits["train"]})
    if len(languages) < settings.min_languages:
        raise CorpusError(
            f"only {len(languages)} languages have >= {settings.min_per_language} usable "
            f"texts from >= {settings.min_sources} of the sources {sorted(described)} "
            f"(need data.corpus.min_languages={settings.min_languages}). Install the pinned "
            "dependencies (`make venv`), add gettext catalog roots to "
            "data.corpus.sources.gettext.locale_dirs, or lower data.corpus.min_languages / "
            "min_per_language / min_sources."
        )
    root.mkdir(parents=True, exist_ok=True)
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for split in SPLITS:
        kept = [r for r in splits[split] if r.label in languages]
        per_source: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        with open(root / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for row in kept:
                provenance = described[row.source]
                record = {
                    "text": row.text,
                    "label": row.label,
                    "source": row.source,
                    "licence": provenance["licence"],
                    "version": provenance["version"],
                    "id": row.original_id,
                }
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
                per_source[row.source][row.label] += 1
        counts[split] = {s: dict(sorted(c.items())) for s, c in sorted(per_source.items())}
    manifest = {
        **fingerprint,
        "languages": languages,
        "dropped": dropped,
        "counts": counts,
    }
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    log.info(
        "langid corpus: %d languages from %s -> %s", len(languages), sorted(described), root
    )
    return root
