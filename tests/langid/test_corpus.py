"""Locale mapping, deterministic splits and the multi-source corpus build on hand-made data."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.langid.data.cleaning import CleaningRules
from tasks.langid.data.locales import locale_to_language
from tasks.langid.data.sources import SOURCES, SourceSentence, TextSource
from tasks.langid.data.splits import SPLITS, dedup_key, split_of, unit_hash
from tasks.langid.data.text_corpus import CorpusError, TextCorpusSettings, build_text_corpus
from tests.langid.langid_helpers import write_mo


@pytest.mark.parametrize(
    ("locale", "language"),
    [
        ("de", "de"),
        ("pt_BR", "pt"),
        ("pt_PT", "pt"),
        ("zh_CN", "zh"),
        ("zh_TW", "zh"),
        ("sr@latin", "sr"),
        ("ca@valencia", "ca"),
        ("uz@cyrillic", "uz"),
        ("de_DE.UTF-8", "de"),
        ("ast", "ast"),
        ("iw", "he"),
        ("no", "nb"),
        ("en@quot", None),
        ("en@shaw", None),
        ("C", None),
        ("locale-with-junk", None),
    ],
)
def test_locale_to_language(locale: str, language: str | None) -> None:
    assert locale_to_language(locale) == language


def test_split_is_a_function_of_the_text_only() -> None:
    texts = [f"sentence number {i}" for i in range(2000)]
    first = [split_of(t, 0.1, 0.1) for t in texts]
    assert first == [split_of(t, 0.1, 0.1) for t in reversed(texts)][::-1]
    fractions = {s: first.count(s) / len(texts) for s in ("train", "validation", "test")}
    assert fractions["train"] == pytest.approx(0.8, abs=0.03)
    assert fractions["test"] == pytest.approx(0.1, abs=0.02)
    assert 0.0 <= unit_hash("x") < 1.0
    assert unit_hash("x") != unit_hash("x", "salt:")


MSGIDS = [f"Could not open the file number {i} today" for i in range(30)]


def make_catalogs(root: Path, locales: list[str]) -> None:
    for locale in locales:
        messages = {src: f"{locale} phrase {i} translated words" for i, src in enumerate(MSGIDS)}
        messages["Internet"] = "Internet access"  # same text in every locale -> dropped
        write_mo(root / locale / "LC_MESSAGES" / "app.mo", messages)
        write_mo(root / locale / "LC_MESSAGES" / "iso_639.mo", {"German": f"{locale} German"})


class ToySource(TextSource):
    """A second domain: some texts repeat catalog sentences with other case/punctuation,
    one ("Internet access") is claimed by a language the catalogs do not give it."""

    name = "toy"
    domain = "toy phrases"
    licence = "CC0-1.0"
    release = "1.0"

    def version(self) -> str:
        return self.release

    def sentences(self, rules: CleaningRules) -> Iterator[SourceSentence]:
        for language in ("de", "pt"):
            for i in range(40):
                yield SourceSentence(
                    f"{language} toy phrase number {i}", language, f"{language}#{i}"
                )
        for i in range(0, 30, 3):  # catalog sentences, re-cased and re-punctuated
            yield SourceSentence(f"DE  phrase {i} translated words!", "de", f"de#dup{i}")
        yield SourceSentence("Internet access", "fr", "fr#0")


def settings_for(root: Path, **overrides) -> TextCorpusSettings:
    options = {
        "sources": {"gettext": {"locale_dirs": [str(root)], "python_packages": False}},
        "max_per_source": {"gettext": 25},
        "min_per_language": 20,
        "min_sources": 1,
        "min_languages": 3,
    }
    return TextCorpusSettings(**{**options, **overrides})


def two_sources(root: Path) -> TextCorpusSettings:
    return settings_for(
        root,
        sources={"gettext": {"locale_dirs": [str(root)], "python_packages": False}, "toy": {}},
        max_per_source={"gettext": 60, "toy": 45},
    )


def read_split(root: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (root / f"{split}.jsonl").read_text().splitlines()]


def test_build_corpus_from_catalogs(tmp_path: Path) -> None:
    make_catalogs(tmp_path / "locale", ["de", "pt_BR", "pt_PT", "en@quot"])
    out = build_text_corpus(tmp_path / "corpus", settings_for(tmp_path / "locale"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["languages"] == ["de", "en", "pt"]  # en from msgids, pt merged, en@quot gone
    rows = {s: read_split(out, s) for s in ("train", "validation", "test")}
    texts = [r["text"] for s in rows.values() for r in s]
    assert len(texts) == len(set(texts))  # no sentence in two splits
    assert not any("Internet access" in t or "German" in t for t in texts)  # shared / iso_* dropped
    per_language = {
        lang: sum(v["gettext"][lang] for v in manifest["counts"].values())
        for lang in ["de", "en", "pt"]
    }
    assert all(n == 25 for n in per_language.values())  # capped (60 pt sentences, 30 de/en)
    # cached: a second build with the same settings leaves the files untouched
    mtime = (out / "train.jsonl").stat().st_mtime_ns
    build_text_corpus(tmp_path / "corpus", settings_for(tmp_path / "locale"))
    assert (out / "train.jsonl").stat().st_mtime_ns == mtime


def test_corpus_is_deterministic_and_keeps_provenance(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(SOURCES, "toy", ToySource)
    make_catalogs(tmp_path / "locale", ["de", "pt_BR"])
    first = build_text_corpus(tmp_path / "a", two_sources(tmp_path / "locale"))
    second = build_text_corpus(tmp_path / "b", two_sources(tmp_path / "locale"))
    for name in (*(f"{s}.jsonl" for s in SPLITS), "manifest.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["sources"]["toy"] == {
        "domain": "toy phrases",
        "licence": "CC0-1.0",
        "version": "1.0",
    }
    assert manifest["sources"]["gettext"]["version"].startswith("4 catalogs:")
    rows = [r for s in SPLITS for r in read_split(first, s)]
    assert {r["source"] for r in rows} == {"gettext", "toy"}
    for row in rows:
        assert set(row) == {"text", "label", "source", "licence", "version", "id"}
        assert row["licence"] == manifest["sources"][row["source"]]["licence"]
        assert row["version"] == manifest["sources"][row["source"]]["version"]
    assert {r["id"] for r in rows if r["text"] == "de toy phrase number 7"} == {"de#7"}
    assert any(r["id"].startswith("pt_BR/LC_MESSAGES/app.mo#") for r in rows)
    assert not any(r["text"] == "Internet access" for r in rows)  # claimed by fr (toy) too
    # the re-cased catalog sentences are duplicates: kept once, for the first source
    assert not any("#dup" in r["id"] for r in rows)
    # a new source version invalidates the cache
    mtime = (first / "train.jsonl").stat().st_mtime_ns
    monkeypatch.setattr(ToySource, "release", "2.0")
    build_text_corpus(tmp_path / "a", two_sources(tmp_path / "locale"))
    assert (first / "train.jsonl").stat().st_mtime_ns != mtime
    assert json.loads((first / "manifest.json").read_text())["sources"]["toy"]["version"] == "2.0"


def test_no_normalised_sentence_is_shared_between_splits(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(SOURCES, "toy", ToySource)
    make_catalogs(tmp_path / "locale", ["de", "pt_BR"])
    out = build_text_corpus(tmp_path / "corpus", two_sources(tmp_path / "locale"))
    keys = {s: [dedup_key(r["text"]) for r in read_split(out, s)] for s in SPLITS}
    assert all(len(k) == len(set(k)) for k in keys.values())
    assert not set(keys["train"]) & (set(keys["validation"]) | set(keys["test"]))
    assert not set(keys["validation"]) & set(keys["test"])
    assert all(keys.values())


def test_dedup_key_folds_case_width_space_and_punctuation() -> None:
    assert dedup_key("Open  File…!") == dedup_key("open file") == "open file"
    assert dedup_key("ＡＢＣ") == "abc"  # NFKC: full-width letters
    assert dedup_key("Straße") == dedup_key("STRASSE")
    assert dedup_key("नमस्ते दुनिया") == "नमस्ते दुनिया"  # combining vowel signs are kept
    assert dedup_key("a-b") == dedup_key("a b") != dedup_key("ab")


def test_unknown_source_is_a_clear_error(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, sources={"wikipedia": {}})
    with pytest.raises(ValueError, match=r"unknown source 'wikipedia'.*cldr"):
        build_text_corpus(tmp_path / "corpus", settings)


def test_too_few_languages_is_a_clear_error(tmp_path: Path) -> None:
    make_catalogs(tmp_path / "locale", ["de"])
    with pytest.raises(CorpusError, match=r"only 2 languages.*min_languages=3"):
        build_text_corpus(tmp_path / "corpus", settings_for(tmp_path / "locale"))


class LexiconSource(TextSource):
    """A training-only source: phrases of the catalog languages, one text equal to a `de`
    catalog sentence but labelled `pt`, and a language (`fr`) no other source has."""

    name = "lexicon"
    domain = "toy word lists"
    licence = "CC0-1.0"
    training_only = True

    def version(self) -> str:
        return "1"

    def sentences(self, rules: CleaningRules) -> Iterator[SourceSentence]:
        for language in ("de", "pt", "fr"):
            for i in range(30):
                yield SourceSentence(f"{language} lexicon words {i}", language, f"{language}#{i}")
        yield SourceSentence("de phrase 3 translated words", "pt", "pt#clash")


def test_training_only_source_adds_training_rows_alone(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(SOURCES, "lexicon", LexiconSource)
    make_catalogs(tmp_path / "locale", ["de", "pt_BR"])
    catalogs = {"locale_dirs": [str(tmp_path / "locale")], "python_packages": False}
    # listed first, it is still read after the domains
    settings = settings_for(
        tmp_path / "locale", sources={"lexicon": {}, "gettext": catalogs}, min_per_language=25
    )
    out = build_text_corpus(tmp_path / "corpus", settings)
    rows = {s: read_split(out, s) for s in SPLITS}
    lexicon = [r for r in rows["train"] if r["source"] == "lexicon"]
    assert {r["label"] for r in lexicon} == {"de", "pt"}  # fr stands on the lexicon alone
    assert len(lexicon) == 60
    assert not any(r["source"] == "lexicon" for s in ("validation", "test") for r in rows[s])
    # the clashing text neither joins the corpus nor makes the catalog sentence ambiguous
    kept = [r for s in SPLITS for r in rows[s] if r["text"] == "de phrase 3 translated words"]
    assert [(r["label"], r["source"]) for r in kept] == [("de", "gettext")]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["languages"] == ["de", "en", "pt"]
    assert manifest["dropped"]["training-only repeats"] == 1
    # without the lexicon, the domains' rows are the same
    alone = build_text_corpus(
        tmp_path / "alone", settings_for(tmp_path / "locale", min_per_language=25)
    )
    for split in SPLITS:
        assert [r for r in rows[split] if r["source"] != "lexicon"] == read_split(alone, split)
