"""Read translated messages from compiled gettext catalogs (``*.mo``).

Every Linux machine carries thousands of professionally translated UI messages in
``/usr/share/locale/<locale>/LC_MESSAGES/*.mo``. Their English source strings
(``msgid``) and translations (``msgstr``) are the raw text for the generated corpora.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DEFAULT_LOCALE_DIRS = ("/usr/share/locale",)


@dataclass(frozen=True)
class CatalogMessage:
    """One translated message: ``locale`` is the catalog's folder name (e.g. ``pt_BR``)."""

    locale: str
    domain: str
    msgid: str
    msgstr: str


def find_catalogs(locale_dirs: tuple[str, ...] = DEFAULT_LOCALE_DIRS) -> list[Path]:
    """All ``<dir>/<locale>/LC_MESSAGES/*.mo`` files under ``locale_dirs``, sorted."""
    found: list[Path] = []
    for root in locale_dirs:
        found.extend(Path(root).glob("*/LC_MESSAGES/*.mo"))
    return sorted(found)


def iter_catalog_messages(paths: list[Path]) -> Iterator[CatalogMessage]:
    """Yield every singular message with a non-empty translation.

    Plural entries (tuple keys) and the catalog header (empty ``msgid``) are skipped; a
    catalog that cannot be parsed is skipped rather than aborting the whole scan.
    """
    for path in paths:
        try:
            with open(path, "rb") as f:
                catalog = gettext.GNUTranslations(f)
        except (OSError, UnicodeDecodeError, ValueError, IndexError, KeyError):
            continue
        locale, domain = path.parent.parent.name, path.stem
        for msgid, msgstr in catalog._catalog.items():
            if isinstance(msgid, str) and msgid and msgstr:
                yield CatalogMessage(locale, domain, msgid, msgstr)
