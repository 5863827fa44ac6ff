"""Job titles and basic vocabulary per locale, from the Faker package's providers.

``faker.providers.job.<locale>.Provider.jobs`` lists occupations as written in that
locale ("Vermessungstechniker*in", "Ovlašteni inženjer strojarstva");
``faker.providers.lorem.<locale>.Provider.word_list`` a basic vocabulary (often a
language's most frequent words). Only what a locale defines itself is read (an inherited
list is another locale's); the English occupations are the job provider's own list. The
``la`` word list is lorem-ipsum pseudo-Latin and is skipped.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Sequence

from tasks.langid.data.cleaning import CleaningRules, clean_message, is_natural_language
from tasks.langid.data.locales import locale_to_language
from tasks.langid.data.sources.source import SourceSentence, TextSource, package_version

LISTS = {"job": "jobs", "lorem": "word_list"}
"""Faker provider -> the class attribute holding its texts."""


class FakerSource(TextSource):
    """Occupations and vocabulary words of Faker's locales.

    Args:
        skip_locales: Faker locales not read (``la``: lorem ipsum, not Latin).
    """

    name = "faker"
    domain = "job titles and basic vocabulary words (Faker's locale providers)"
    licence = "MIT"

    def __init__(self, skip_locales: Sequence[str] = ("la",)) -> None:
        self._version = package_version("Faker", self.name)
        self.skip_locales = frozenset(skip_locales)

    def version(self) -> str:
        return self._version

    def provider_lists(self) -> Iterator[tuple[str, str, Sequence[str]]]:
        """``(provider, locale, texts)`` for every list a locale defines itself."""
        for provider, attribute in LISTS.items():
            package = importlib.import_module(f"faker.providers.{provider}")
            own = package.Provider.__dict__.get(attribute)
            if own is not None:
                yield provider, "en", own
            for module in sorted(m.name for m in pkgutil.iter_modules(package.__path__)):
                if module in self.skip_locales:
                    continue
                provider_class = importlib.import_module(f"{package.__name__}.{module}").Provider
                texts = provider_class.__dict__.get(attribute)
                if texts is not None:
                    yield provider, module, texts

    def sentences(self, rules: CleaningRules) -> Iterator[SourceSentence]:
        for provider, locale, texts in self.provider_lists():
            language = locale_to_language(locale)
            if language is None:
                continue
            for index, raw in enumerate(texts):
                text = clean_message(str(raw))
                if is_natural_language(text, rules):
                    yield SourceSentence(text, language, f"{provider}/{locale}#{index}")
