"""Cleaning rules on hand-made catalog entries."""

import pytest

from tasks.langid.data.cleaning import (
    CleaningRules,
    clean_message,
    clean_source,
    clean_translation,
    is_natural_language,
    strip_context,
)

RULES = CleaningRules()


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Fehler beim Öffnen von »%s«: %s", "Fehler beim Öffnen von"),
        ("%1$s Dateien in %2$-10.3lu Ordnern", "Dateien in Ordnern"),
        ("Impossible de lire %(filename)s : %(error)s", "Impossible de lire"),
        ("Não foi possível abrir {0} ({})", "Não foi possível abrir"),
        ("Avaa ${HOME} ja $PATH", "Avaa ja"),
        ("_Datei öffnen", "Datei öffnen"),
        ("&Abbrechen", "Abbrechen"),
        ("~Speichern unter", "Speichern unter"),
        ("ファイルを開く(_O)", "ファイルを開く"),
        ("<b>Gras</b> &amp; italique", "Gras & italique"),
        ("Voir https://example.org/aide ou www.example.org", "Voir ou"),
        ("Fichier /usr/share/doc/readme introuvable", "Fichier introuvable"),
        ("  -a, --all   nicht ignorieren\n", "nicht ignorieren"),
        ("100%% abgeschlossen", "100% abgeschlossen"),
        # machinery that appears only once markup is decoded or in another casing
        ("&amp;Öffnen", "Öffnen"),
        ("Siehe WWW.Example.ORG", "Siehe"),
        ("Fehler : « %s »", "Fehler"),
        ("Ordner ( %s ) ist leer , bitte prüfen .", "Ordner ist leer, bitte prüfen."),
    ],
)
def test_clean_message_strips_machinery(raw: str, clean: str) -> None:
    assert clean_message(raw) == clean


def test_strip_context() -> None:
    assert strip_context("menu\x04Open") == "Open"
    assert strip_context("Open") == "Open"


def test_clean_source_is_the_cleaned_message_without_context() -> None:
    for _ in range(2):  # the second call is answered from the cache
        assert clean_source("menu\x04_Open %s") == clean_message("_Open %s") == "Open"
    assert clean_source("Open <b>%d</b> files") == "Open files"


@pytest.mark.parametrize(
    ("text", "natural"),
    [
        ("Datei öffnen", True),
        ("ファイルを開く", True),
        ("ab", False),  # too short
        ("1.2.3 - 4/5", False),  # digits and punctuation
        ("x: 12345678", False),  # letter ratio below one half
        ("abcd 12 3", True),  # 4 letters of 7 visible characters: spaces do not count
        ("", False),
        ("a" * 301, False),  # longer than max_chars
    ],
)
def test_is_natural_language(text: str, natural: bool) -> None:
    assert is_natural_language(text, RULES) is natural


def test_untranslated_message_is_dropped() -> None:
    assert clean_translation("Open _File", "Open _File", RULES) is None
    assert clean_translation("Open %s", "open %s", RULES) is None  # case-insensitive
    assert clean_translation("ctx\x04Open", "Open", RULES) is None  # context stripped


def test_identifiers_copied_from_msgid_are_removed_but_accelerators_kept() -> None:
    msgid = "Invalid value for max_wal_size"
    assert clean_translation(msgid, "Ungültiger Wert für max_wal_size", RULES) == (
        "Ungültiger Wert für"
    )
    assert clean_translation("_Save", "Spei_chern", RULES) == "Speichern"


def test_placeholder_only_translation_is_dropped() -> None:
    assert clean_translation("%s: %s", "%s : %s", RULES) is None
