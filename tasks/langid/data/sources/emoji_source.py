"""Emoji names per language (CLDR annotations) from the emoji package.

``emoji/unicode_codes/emoji.json`` maps every emoji to its English name
(``:face_with_tears_of_joy:``), ``emoji_<lang>.json`` to the name in one more language.
A name becomes a phrase: colons dropped, underscores read as spaces. A name equal to the
English one is untranslated and dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources

from tasks.langid.data.cleaning import CleaningRules, is_natural_language
from tasks.langid.data.locales import locale_to_language
from tasks.langid.data.sources.source import SourceSentence, TextSource, package_version


def phrase(name: str) -> str:
    """``":grinning_face_with_big_eyes:"`` -> ``"grinning face with big eyes"``."""
    return " ".join(name.strip(":").replace("_", " ").split())


class EmojiSource(TextSource):
    """Names of the emoji in every language the emoji package ships."""

    name = "emoji"
    domain = "emoji names: short descriptions of pictures (Unicode CLDR annotations)"
    licence = "BSD-3-Clause (emoji package); names from Unicode CLDR (Unicode-3.0)"

    def __init__(self) -> None:
        self._version = package_version("emoji", self.name)

    def version(self) -> str:
        return self._version

    def sentences(self, rules: CleaningRules) -> Iterator[SourceSentence]:
        codes = resources.files("emoji") / "unicode_codes"
        english = {
            emoji: phrase(entry["en"])
            for emoji, entry in json.loads((codes / "emoji.json").read_text("utf-8")).items()
        }
        files = sorted(p.name for p in codes.iterdir() if p.name.startswith("emoji_"))
        tables = [("en", english)]
        for file in files:
            names = json.loads((codes / file).read_text("utf-8"))
            tables.append((file.removeprefix("emoji_").removesuffix(".json"), names))
        for lang, names in tables:
            language = locale_to_language(lang)
            if language is None:
                continue
            for emoji, name in names.items():
                text = phrase(name)
                if not is_natural_language(text, rules):
                    continue
                if language != "en" and text.casefold() == english.get(emoji, "").casefold():
                    continue
                codepoints = "-".join(f"{ord(c):04X}" for c in emoji)
                yield SourceSentence(text, language, f"{lang}:{codepoints}")
