"""Sources read from the gettext catalogs shipped inside Python packages (Django, Sphinx)."""

import sys
from pathlib import Path

import pytest

from tasks.langid.data.cleaning import CleaningRules
from tasks.langid.data.sources import make_source
from tasks.langid.data.sources.gettext_source import PackageCatalogSource
from tasks.langid.data.sources.source import SourceUnavailable
from tests.langid.langid_helpers import write_mo

MESSAGES = {
    "Could not open the configuration file": "Die Konfigurationsdatei konnte nicht geöffnet werden",
    "Search results for your query": "Suchergebnisse für Ihre Anfrage",
}


class TwoPackageSource(PackageCatalogSource):
    name = "two_packages"
    domain = "catalogs of a tool and its extension"
    licence = "CC0-1.0"
    packages = ("toolpkg", "toolext")
    distribution = "pytest"  # installed, so the version resolves


@pytest.fixture
def two_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for package, domain in (("toolpkg", "tool"), ("toolext", "ext")):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        write_mo(tmp_path / package / "locale" / "de" / "LC_MESSAGES" / f"{domain}.mo", MESSAGES)
    monkeypatch.syspath_prepend(str(tmp_path))
    for package in ("toolpkg", "toolext"):
        monkeypatch.delitem(sys.modules, package, raising=False)
    return tmp_path


def test_catalogs_of_every_package_are_read_with_ids_inside_their_package(two_packages) -> None:
    items = list(TwoPackageSource().sentences(CleaningRules()))
    german = [item for item in items if item.language == "de"]
    assert sorted(item.text for item in german) == sorted(list(MESSAGES.values()) * 2)
    assert {item.original_id.split("#")[0] for item in german} == {
        "locale/de/LC_MESSAGES/tool.mo",
        "locale/de/LC_MESSAGES/ext.mo",
    }
    english = [item.text for item in items if item.language == "en"]
    assert sorted(english) == sorted(MESSAGES)  # a msgid both packages carry is read once


def test_missing_package_names_the_source_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    class Missing(TwoPackageSource):
        packages = ("no_such_package_here",)
        distribution = "no-such-distribution"

    with pytest.raises(SourceUnavailable, match="'two_packages' reads the no-such-distribution"):
        Missing()


def test_sphinx_source_reads_sphinx_and_its_builders_catalogs() -> None:
    source = make_source("sphinx", {})
    assert {"sphinx", "sphinxcontrib"} <= {part for path in source.catalogs for part in path.parts}
    items = list(source.sentences(CleaningRules()))
    languages = {item.language for item in items}
    assert {"en", "fr", "ja", "ru"} <= languages
    assert all(not item.original_id.startswith("/") for item in items)


def test_host_catalogs_leave_out_the_packages_read_as_sources_of_their_own() -> None:
    host = make_source("gettext", {"locale_dirs": [], "python_packages": True})
    read = {part for path in host.catalogs for part in path.parts}
    assert not read & {"django", "sphinx", "sphinxcontrib"}
