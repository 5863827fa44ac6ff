"""Software messages from compiled gettext catalogs: the host's, Django's and Sphinx's.

All read ``<root>/<locale>/LC_MESSAGES/<domain>.mo`` with
:mod:`tasks.text.gettext_catalogs`, clean every translation with
:mod:`tasks.langid.data.cleaning` and label it with the catalog's locale; the English
source strings (``msgid``) form the ``en`` class. They differ in where the catalogs are:
the machine's locale folders (desktop software), the installed Django package (web
framework: admin, forms, validation messages) or Sphinx and its ``sphinxcontrib`` builders
(documentation generator: build log, warnings, search and theme text).
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import site
import sysconfig
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

from tasks.langid.data.cleaning import (
    CleaningRules,
    clean_source,
    clean_translation,
    is_natural_language,
)
from tasks.langid.data.locales import locale_to_language
from tasks.langid.data.sources.source import (
    SourceSentence,
    SourceUnavailable,
    TextSource,
    package_version,
)
from tasks.text.gettext_catalogs import find_catalogs, iter_catalog_messages


def python_package_locale_dirs(exclude_packages: Sequence[str] = ()) -> tuple[str, ...]:
    """Locale roots (parents of ``<locale>/LC_MESSAGES``) inside installed Python packages,
    except those inside the top-level packages ``exclude_packages``."""
    roots: set[str] = set()
    for packages in {*site.getsitepackages(), sysconfig.get_paths()["purelib"]}:
        for mo in Path(packages).glob("**/LC_MESSAGES/*.mo"):
            if mo.relative_to(packages).parts[0] not in exclude_packages:
                roots.add(str(mo.parent.parent.parent))
    return tuple(sorted(roots))


def catalog_sentences(
    catalogs: Sequence[Path],
    rules: CleaningRules,
    exclude_domains: Sequence[str],
    english_from_msgids: bool,
    id_bases: Sequence[Path] = (),
) -> Iterator[SourceSentence]:
    """Cleaned translations (labelled by locale) and, optionally, cleaned English sources.

    The id of an item is the catalog's path (relative to the first of ``id_bases`` that
    holds it, default its locale root: ``<locale>/LC_MESSAGES/<domain>.mo``), ``#`` and the
    first 12 hex digits of the SHA-1 of the msgid; an ``en`` item names the first catalog
    that carried its msgid.
    """
    seen_msgids: set[str] = set()  # every locale repeats the same English sources
    for path in catalogs:
        if any(fnmatch.fnmatch(path.stem, pattern) for pattern in exclude_domains):
            continue
        locale = path.parent.parent.name
        language = locale_to_language(locale)
        base = next((base for base in id_bases if path.is_relative_to(base)), path.parents[2])
        catalog_id = path.relative_to(base).as_posix()
        for message in iter_catalog_messages([path]):
            digest = hashlib.sha1(message.msgid.encode("utf-8")).hexdigest()[:12]
            original_id = f"{catalog_id}#{digest}"
            if english_from_msgids and message.msgid not in seen_msgids:
                seen_msgids.add(message.msgid)
                source = clean_source(message.msgid)
                if is_natural_language(source, rules):
                    yield SourceSentence(source, "en", original_id)
            if language is not None:
                text = clean_translation(message.msgid, message.msgstr, rules)
                if text is not None:
                    yield SourceSentence(text, language, original_id)


def catalogs_digest(catalogs: Sequence[Path]) -> str:
    """``<count>:<12 hex>`` over the catalogs' paths and sizes (cheap; no file is read)."""
    digest = hashlib.sha1()
    for path in catalogs:
        digest.update(f"{path}\0{path.stat().st_size}\n".encode())
    return f"{len(catalogs)} catalogs:{digest.hexdigest()[:12]}"


class HostCatalogSource(TextSource):
    """Desktop-software UI messages from the machine's gettext catalogs.

    Args:
        locale_dirs: roots holding ``<locale>/LC_MESSAGES/*.mo``.
        python_packages: also read catalogs shipped inside installed Python packages.
        exclude_packages: top-level packages skipped by ``python_packages`` (those read
            as sources of their own: ``django``, ``sphinx`` and its ``sphinxcontrib``
            builders).
        exclude_domains: catalog domains (glob patterns) holding names, not sentences
            (``iso_*`` = country, language and currency names).
        english_from_msgids: the catalogs' English source strings form the ``en`` class.
    """

    name = "gettext"
    domain = "desktop software UI messages (the machine's gettext catalogs)"
    licence = "per catalog: the licence of the package that installed it (mostly GPL/LGPL)"

    def __init__(
        self,
        locale_dirs: Sequence[str] = ("/usr/share/locale",),
        python_packages: bool = True,
        exclude_packages: Sequence[str] = ("django", "sphinx", "sphinxcontrib"),
        exclude_domains: Sequence[str] = ("iso_*",),
        english_from_msgids: bool = True,
    ) -> None:
        dirs = tuple(locale_dirs)
        if python_packages:
            dirs += python_package_locale_dirs(tuple(exclude_packages))
        self.catalogs = find_catalogs(dirs)
        self.exclude_domains = tuple(exclude_domains)
        self.english_from_msgids = english_from_msgids

    def version(self) -> str:
        return catalogs_digest(self.catalogs)

    def sentences(self, rules: CleaningRules) -> Iterator[SourceSentence]:
        yield from catalog_sentences(
            self.catalogs, rules, self.exclude_domains, self.english_from_msgids
        )


class PackageCatalogSource(TextSource):
    """UI messages from the gettext catalogs shipped inside installed Python packages.

    Class attributes: ``packages`` (the top-level import packages whose folders hold the
    catalogs; an item's id is its catalog's path inside its package) and ``distribution``
    (the installed distribution whose version keys the cache; the other packages are
    pinned with it).
    """

    packages: ClassVar[tuple[str, ...]]
    distribution: ClassVar[str]

    def __init__(self, english_from_msgids: bool = True) -> None:
        self.folders = [self._package_folder(package) for package in self.packages]
        roots = sorted(
            {
                str(mo.parent.parent.parent)
                for folder in self.folders
                for mo in folder.glob("**/LC_MESSAGES/*.mo")
            }
        )
        self.catalogs = find_catalogs(tuple(roots))
        self.english_from_msgids = english_from_msgids

    def _package_folder(self, package: str) -> Path:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            package_version(self.distribution, self.name)  # raises with the fix
            raise SourceUnavailable(f"the {package} package has no folder to read catalogs from")
        return Path(next(iter(spec.submodule_search_locations)))

    def version(self) -> str:
        return package_version(self.distribution, self.name)

    def sentences(self, rules: CleaningRules) -> Iterator[SourceSentence]:
        yield from catalog_sentences(
            self.catalogs, rules, (), self.english_from_msgids, id_bases=self.folders
        )


class DjangoCatalogSource(PackageCatalogSource):
    """Web-framework UI messages: the catalogs shipped in the Django package (core, admin,
    auth, forms and validation messages, humanize, ...)."""

    name = "django"
    domain = "web framework UI and validation messages (Django's gettext catalogs)"
    licence = "BSD-3-Clause"
    packages = ("django",)
    distribution = "Django"


class SphinxCatalogSource(PackageCatalogSource):
    """Documentation-generator messages: the catalogs shipped in Sphinx and its bundled
    ``sphinxcontrib`` builders (build log, warnings, search page, index and HTML theme
    text)."""

    name = "sphinx"
    domain = "documentation generator messages (Sphinx's gettext catalogs)"
    licence = "BSD-2-Clause"
    packages = ("sphinx", "sphinxcontrib")
    distribution = "Sphinx"
