"""The embedded written-LID corpus: translated UI sentences from the machine's gettext catalogs.

Pipeline: find catalogs (system locale dirs + catalogs shipped in Python packages) ->
clean every translation (:mod:`tasks.langid.data.cleaning`) -> map its locale to an ISO 639
code (:mod:`tasks.langid.data.locales`) -> drop sentences claimed by several languages ->
split by text hash (:mod:`tasks.langid.data.splits`) -> cap each language per split ->
keep languages with enough sentences -> write ``{train,validation,test}.jsonl`` with
``text`` and ``label`` fields plus ``manifest.json`` (the build settings and counts).
A rebuild is skipped when the manifest's settings match.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import site
import sysconfig
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from tasks.langid.data.cleaning import (
    CleaningRules,
    clean_message,
    clean_translation,
    is_natural_language,
    strip_context,
)
from tasks.langid.data.locales import locale_to_language
from tasks.langid.data.splits import SPLITS, split_of, unit_hash
from tasks.text.gettext_catalogs import find_catalogs, iter_catalog_messages

log = logging.getLogger(__name__)


class CorpusError(RuntimeError):
    """The machine's catalogs cannot yield the requested corpus."""


@dataclass(frozen=True)
class TextCorpusSettings:
    """Every knob of the corpus build (the Hydra ``data.corpus`` node).

    Args:
        locale_dirs: roots holding ``<locale>/LC_MESSAGES/*.mo``.
        python_packages: also scan installed Python packages for ``LC_MESSAGES`` catalogs.
        exclude_domains: catalog domains (glob patterns) that hold names, not sentences
            (``iso_*`` = country, language and currency names).
        english_from_msgids: use the catalogs' English source strings as the ``en`` class.
        min_per_language: keep a language only with at least this many sentences in total.
        max_per_language: cap per language (split across train/validation/test by fraction).
        min_languages: fail when fewer languages survive.
        val_fraction / test_fraction: hash-split fractions.
    """

    locale_dirs: tuple[str, ...] = ("/usr/share/locale",)
    python_packages: bool = True
    exclude_domains: tuple[str, ...] = ("iso_*",)
    english_from_msgids: bool = True
    min_per_language: int = 1000
    max_per_language: int = 2000
    min_languages: int = 40
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    rules: CleaningRules = field(default_factory=CleaningRules)

    @classmethod
    def from_dict(cls, options: dict) -> TextCorpusSettings:
        options = dict(options)
        rules = CleaningRules(**options.pop("rules", {}))
        for key in ("locale_dirs", "exclude_domains"):
            if key in options:
                options[key] = tuple(options[key])
        return cls(rules=rules, **options)


def python_package_locale_dirs() -> tuple[str, ...]:
    """Locale roots (parents of ``<locale>/LC_MESSAGES``) inside installed Python packages."""
    roots: set[str] = set()
    for packages in {*site.getsitepackages(), sysconfig.get_paths()["purelib"]}:
        for mo in Path(packages).glob("**/LC_MESSAGES/*.mo"):
            roots.add(str(mo.parent.parent.parent))
    return tuple(sorted(roots))


def collect_sentences(catalogs: list[Path], settings: TextCorpusSettings) -> dict[str, set[str]]:
    """Cleaned sentences per ISO 639 language, before de-duplication across languages."""
    by_language: dict[str, set[str]] = defaultdict(set)
    rules = settings.rules
    seen_msgids: set[str] = set()  # every locale repeats the same English sources
    for path in tqdm(catalogs, desc="langid: reading catalogs", unit="catalog"):
        if any(fnmatch.fnmatch(path.stem, pattern) for pattern in settings.exclude_domains):
            continue
        language = locale_to_language(path.parent.parent.name)
        for message in iter_catalog_messages([path]):
            if settings.english_from_msgids and message.msgid not in seen_msgids:
                seen_msgids.add(message.msgid)
                source = clean_message(strip_context(message.msgid))
                if is_natural_language(source, rules):
                    by_language["en"].add(source)
            if language is not None:
                text = clean_translation(message.msgid, message.msgstr, rules)
                if text is not None:
                    by_language[language].add(text)
    return by_language


def assign_splits(
    by_language: dict[str, set[str]], settings: TextCorpusSettings
) -> dict[str, dict[str, list[str]]]:
    """``{split: {language: sentences}}`` after de-duplication, capping and the size filter.

    A sentence claimed by two languages ("Internet", "OK") carries no label and is
    dropped. Capping keeps the sentences with the smallest salted hash, so the kept set
    does not depend on catalog order.
    """
    owners: dict[str, int] = defaultdict(int)
    for sentences in by_language.values():
        for text in sentences:
            owners[text] += 1
    fractions = {
        "train": 1.0 - settings.val_fraction - settings.test_fraction,
        "validation": settings.val_fraction,
        "test": settings.test_fraction,
    }
    result: dict[str, dict[str, list[str]]] = {split: {} for split in SPLITS}
    for language in sorted(by_language):
        unique = [t for t in by_language[language] if owners[t] == 1]
        if len(unique) < settings.min_per_language:
            continue
        per_split: dict[str, list[str]] = defaultdict(list)
        for text in unique:
            per_split[split_of(text, settings.val_fraction, settings.test_fraction)].append(text)
        for split in SPLITS:
            cap = round(settings.max_per_language * fractions[split])
            ranked = sorted(per_split[split], key=lambda t: unit_hash(t, "keep:"))
            result[split][language] = ranked[:cap]
    return result


def build_text_corpus(root: str | Path, settings: TextCorpusSettings) -> Path:
    """Write the corpus under ``root`` unless an identical build is already there."""
    root = Path(root)
    manifest_path = root / "manifest.json"
    wanted = json.loads(json.dumps(asdict(settings)))
    complete = manifest_path.exists() and all((root / f"{s}.jsonl").exists() for s in SPLITS)
    if complete and json.loads(manifest_path.read_text())["settings"] == wanted:
        return root
    dirs = settings.locale_dirs
    if settings.python_packages:
        dirs = dirs + python_package_locale_dirs()
    catalogs = find_catalogs(dirs)
    splits = assign_splits(collect_sentences(catalogs, settings), settings)
    languages = sorted(splits["train"])
    if len(languages) < settings.min_languages:
        raise CorpusError(
            f"only {len(languages)} languages have >= {settings.min_per_language} usable "
            f"sentences in {len(catalogs)} gettext catalogs under {list(dirs)} "
            f"(need data.corpus.min_languages={settings.min_languages}). Install more "
            "translations (e.g. `apt-get install language-pack-gnome-* locales-all`), add "
            "catalog roots to data.corpus.locale_dirs, or lower data.corpus.min_languages / "
            "data.corpus.min_per_language."
        )
    root.mkdir(parents=True, exist_ok=True)
    counts: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        rows = [(t, lang) for lang in languages for t in splits[split][lang]]
        rows.sort(key=lambda row: unit_hash(row[0], "order:"))
        with open(root / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for text, label in rows:
                f.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
        counts[split] = {lang: len(splits[split][lang]) for lang in languages}
    manifest = {"settings": wanted, "catalogs": len(catalogs), "languages": languages}
    manifest["counts"] = counts
    manifest_path.write_text(json.dumps(manifest, indent=1))
    log.info("langid corpus: %d languages, %d catalogs -> %s", len(languages), len(catalogs), root)
    return root
