"""What a source of the written-LID corpus is: one domain of text, its licence and version.

Every source yields :class:`SourceSentence` items (text, ISO 639 language, the item's id
in the source) already cleaned to natural language; the corpus builder
(:mod:`tasks.langid.data.text_corpus`) de-duplicates, caps and splits them and writes the
source's name, licence and version next to every row.
"""

from __future__ import annotations

import importlib.metadata
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from tasks.langid.data.cleaning import CleaningRules


class SourceUnavailable(RuntimeError):
    """A corpus source cannot be read on this machine (e.g. its package is missing)."""


@dataclass(frozen=True)
class SourceSentence:
    """One cleaned text of a source: ``original_id`` finds it again in the source."""

    text: str
    language: str
    original_id: str


class TextSource(ABC):
    """A reader of one kind of multilingual text.

    Class attributes: ``name`` (the key under ``data.corpus.sources``), ``domain`` (what
    the text is, for the manifest and the docs), ``licence`` (of the text as shipped) and
    ``training_only``: its texts go to the training split alone, never make another
    source's text ambiguous and do not count towards keeping a language (a source that is
    not a domain of real text, so there is nothing to test on).
    """

    name: ClassVar[str]
    domain: ClassVar[str]
    licence: ClassVar[str]
    training_only: ClassVar[bool] = False

    @abstractmethod
    def version(self) -> str:
        """A string that changes whenever the source's text may change (a package version,
        a digest of the files read); part of the corpus cache key."""

    @abstractmethod
    def sentences(self, rules: CleaningRules) -> Iterator[SourceSentence]:
        """Every usable text, in a deterministic order."""


def package_version(distribution: str, source: str) -> str:
    """The installed version of ``distribution``, or a one-line error with the fix."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise SourceUnavailable(
            f"corpus source {source!r} reads the {distribution} package, which is not "
            "installed: run `make venv` (it installs the pinned dependencies) or remove "
            f"{source} from data.corpus.sources"
        ) from None
