"""Locale mapping, deterministic splits and the corpus build on hand-made catalogs."""

import json
from pathlib import Path

import pytest

from tasks.langid.data.locales import locale_to_language
from tasks.langid.data.splits import split_of, unit_hash
from tasks.langid.data.text_corpus import CorpusError, TextCorpusSettings, build_text_corpus


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


def write_mo(path: Path, messages: dict[str, str]) -> None:
    """A minimal little-endian GNU .mo file (format of `msgfmt`)."""
    entries = sorted({"": "Content-Type: text/plain; charset=UTF-8\n", **messages}.items())
    ids = [k.encode() for k, _ in entries]
    strs = [v.encode() for _, v in entries]
    n = len(entries)
    header = 28
    id_table = header
    str_table = id_table + 8 * n
    data_start = str_table + 8 * n
    blob = b""
    id_offsets, str_offsets = [], []
    for s in ids:
        id_offsets.append((len(s), data_start + len(blob)))
        blob += s + b"\0"
    for s in strs:
        str_offsets.append((len(s), data_start + len(blob)))
        blob += s + b"\0"
    out = bytearray()
    for value in (0x950412DE, 0, n, id_table, str_table, 0, 0):
        out += value.to_bytes(4, "little")
    for length, offset in id_offsets + str_offsets:
        out += length.to_bytes(4, "little") + offset.to_bytes(4, "little")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out) + blob)


SOURCES = [f"Could not open the file number {i} today" for i in range(30)]


def make_catalogs(root: Path, locales: list[str]) -> None:
    for locale in locales:
        messages = {src: f"{locale} phrase {i} translated words" for i, src in enumerate(SOURCES)}
        messages["Internet"] = "Internet access"  # same text in every locale -> dropped
        write_mo(root / locale / "LC_MESSAGES" / "app.mo", messages)
        write_mo(root / locale / "LC_MESSAGES" / "iso_639.mo", {"German": f"{locale} German"})


def settings_for(root: Path, **overrides) -> TextCorpusSettings:
    options = {
        "locale_dirs": (str(root),),
        "python_packages": False,
        "min_per_language": 20,
        "max_per_language": 25,
        "min_languages": 3,
    }
    return TextCorpusSettings(**{**options, **overrides})


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
        lang: sum(v[lang] for v in manifest["counts"].values()) for lang in ["de", "en", "pt"]
    }
    assert all(n <= 25 for n in per_language.values())  # capped
    assert manifest["counts"]["train"]["pt"] == 20  # 60 pt sentences, train cap 0.8 * 25
    # cached: a second build with the same settings leaves the files untouched
    mtime = (out / "train.jsonl").stat().st_mtime_ns
    build_text_corpus(tmp_path / "corpus", settings_for(tmp_path / "locale"))
    assert (out / "train.jsonl").stat().st_mtime_ns == mtime


def test_too_few_languages_is_a_clear_error(tmp_path: Path) -> None:
    make_catalogs(tmp_path / "locale", ["de"])
    with pytest.raises(CorpusError, match=r"only 2 languages.*min_languages=3"):
        build_text_corpus(tmp_path / "corpus", settings_for(tmp_path / "locale"))
