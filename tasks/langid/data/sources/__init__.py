"""Sources of the embedded written-LID corpus, one domain of text each (see
:mod:`tasks.langid.data.sources.source`); ``SOURCES`` maps the names used under
``data.corpus.sources`` to their readers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tasks.langid.data.sources.cldr_source import CldrSource
from tasks.langid.data.sources.emoji_source import EmojiSource
from tasks.langid.data.sources.faker_source import FakerSource
from tasks.langid.data.sources.gettext_source import (
    DjangoCatalogSource,
    HostCatalogSource,
    SphinxCatalogSource,
)
from tasks.langid.data.sources.wordfreq_source import WordFrequencySource
from tasks.langid.data.sources.source import (
    SourceSentence,
    SourceUnavailable,
    TextSource,
)

SOURCES: dict[str, type[TextSource]] = {
    source.name: source
    for source in (
        HostCatalogSource,
        DjangoCatalogSource,
        SphinxCatalogSource,
        CldrSource,
        FakerSource,
        EmojiSource,
        WordFrequencySource,
    )
}

__all__ = ["SOURCES", "SourceSentence", "SourceUnavailable", "TextSource", "make_source"]


def make_source(name: str, options: Mapping[str, Any] | None) -> TextSource:
    """The reader of source ``name`` with its ``data.corpus.sources.<name>`` options."""
    if name not in SOURCES:
        raise ValueError(
            f"data.corpus.sources: unknown source {name!r}; known sources: {sorted(SOURCES)}"
        )
    try:
        return SOURCES[name](**dict(options or {}))
    except TypeError as error:
        raise ValueError(f"data.corpus.sources.{name}: {error}") from None
