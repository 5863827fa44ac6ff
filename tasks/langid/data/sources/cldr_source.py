"""Names and calendar phrases of the Unicode CLDR, as shipped in the Babel package.

For every language CLDR describes: the names of languages, countries and regions,
scripts, currencies (singular and plural), time zones ("Central European Summer Time"),
measurement units ("kilometres per hour"), relative date fields ("next Sunday", "last
year", "in {0} days", the placeholder removed) and months and weekdays. Only each
locale's own data is read (nothing inherited from the root locale), and a name equal to
the English one at the same place ("Mafa", "Euro") is untranslated and dropped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tasks.langid.data.cleaning import (
    CleaningRules,
    clean_message,
    clean_source,
    is_natural_language,
)
from tasks.langid.data.locales import locale_to_language
from tasks.langid.data.sources.source import SourceSentence, TextSource, package_version

CATEGORIES = (
    "languages",
    "territories",
    "scripts",
    "currency_names",
    "currency_names_plural",
    "meta_zones",
    "unit_display_names",
    "date_fields",
    "months",
    "days",
)
"""Top-level CLDR categories read; the others are patterns, symbols or codes."""

ABBREVIATED = frozenset({"short", "narrow", "abbreviated"})
"""Branches holding abbreviations ("Mo.", "km/h"), not words."""


def flatten(data: Mapping[Any, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """``("category/key/...", text)`` for every string leaf, abbreviation branches skipped."""
    for key, value in data.items():
        if str(key) in ABBREVIATED or str(key).endswith(("-short", "-narrow")):
            continue
        path = (*prefix, str(key))
        if isinstance(value, str):
            yield "/".join(path), value
        elif isinstance(value, Mapping):
            yield from flatten(value, path)


def locale_strings(identifier: str) -> dict[str, str]:
    """``{path: text}`` of one locale's own CLDR data in :data:`CATEGORIES`."""
    from babel import localedata

    data = localedata.load(identifier, merge_inherited=False)
    return dict(flatten({c: data[c] for c in CATEGORIES if isinstance(data.get(c), Mapping)}))


class CldrSource(TextSource):
    """CLDR names and calendar phrases per language (Babel's locale data).

    Args:
        extra_locales: script variants read besides the plain language locales (their
            text joins the language's class, as ``sr@latin`` does in gettext).
    """

    name = "cldr"
    domain = "names of languages, places, currencies, time zones and units; calendar phrases (Unicode CLDR)"
    licence = "Unicode-3.0 (CLDR data) in Babel (BSD-3-Clause)"

    def __init__(self, extra_locales: Sequence[str] = ("sr_Latn", "zh_Hant")) -> None:
        self._version = package_version("babel", self.name)
        from babel import localedata

        plain = [i for i in localedata.locale_identifiers() if "_" not in i and i != "root"]
        self.identifiers = sorted({*plain, *extra_locales})

    def version(self) -> str:
        return self._version

    def sentences(self, rules: CleaningRules) -> Iterator[SourceSentence]:
        english = locale_strings("en")
        for identifier in self.identifiers:
            language = locale_to_language(identifier)
            if language is None:
                continue
            for path, raw in sorted(locale_strings(identifier).items()):
                text = clean_message(raw)
                if not is_natural_language(text, rules):
                    continue
                if language != "en" and text.casefold() == clean_source(english.get(path, "")).casefold():
                    continue
                yield SourceSentence(text, language, f"{identifier}:{path}")
