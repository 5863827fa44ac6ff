"""Extra training rows of written language ID: joined, recased, cropped, unaccented and mixed
texts."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from tasks.langid.data.text_augmentation import (
    TextAugmentation,
    augment_texts,
    crop_text,
    unaccent_text,
)
from tests.langid.langid_helpers import text_datamodule, write_jsonl_splits

TEXTS = {
    "de": ["Guten Morgen", "Datei öffnen", "Hallo Welt", "Neues Fenster"],
    "fr": ["Bonjour à tous", "Ouvrir le fichier", "Nouvelle fenêtre"],
    "zh": ["打开文件", "新建窗口"],
}
ROWS = [(text, label) for label, texts in TEXTS.items() for text in texts]


def augment(seed: int = 0, **fractions: float) -> tuple[list[str], list[str]]:
    settings = {"joined": 0.0, "max_joined": 3, "recased": 0.0, "cropped": 0.0} | fractions
    texts, labels = zip(*ROWS, strict=True)
    return augment_texts(list(texts), list(labels), TextAugmentation(**settings), seed)


def test_rows_are_appended_and_reproducible() -> None:
    texts, labels = augment(joined=2.0, recased=1.0, cropped=1.0)
    assert list(zip(texts[: len(ROWS)], labels[: len(ROWS)], strict=True)) == ROWS
    assert len(texts) > len(ROWS) + 2 * len(ROWS)  # all joined rows, most recased/cropped
    assert augment(joined=2.0, recased=1.0, cropped=1.0) == (texts, labels)
    assert augment(seed=1, joined=2.0, recased=1.0, cropped=1.0) != (texts, labels)


def test_joined_rows_join_texts_of_their_own_language() -> None:
    texts, labels = augment(joined=3.0)
    extra = list(zip(texts[len(ROWS) :], labels[len(ROWS) :], strict=True))
    assert len(extra) == 3 * len(ROWS)
    for text, label in extra:
        rest = text
        parts = 0
        while rest:  # every joined text is a sequence of its language's texts
            match = next(t for t in TEXTS[label] if rest.startswith(t))
            rest = rest[len(match) :].lstrip(" .,;-")
            parts += 1
        assert 2 <= parts <= 3, text


def test_recasing_skips_scripts_without_case() -> None:
    texts, labels = augment(recased=5.0)
    extra = list(zip(texts[len(ROWS) :], labels[len(ROWS) :], strict=True))
    assert extra and all(label != "zh" for _, label in extra)
    originals = {t.casefold(): label for t, label in ROWS}
    for text, label in extra:
        assert originals[text.casefold()] == label
        assert text not in dict(ROWS)


def test_mixed_rows_give_every_language_as_many_rows_of_its_own_words() -> None:
    texts, labels = augment(mixed_per_language=40, max_mixed_words=5)
    extra = list(zip(texts[len(ROWS) :], labels[len(ROWS) :], strict=True))
    assert Counter(label for _, label in extra) == {"de": 40, "fr": 40, "zh": 40}
    for text, label in extra:
        words = text.split()
        assert 2 <= len(words) <= 5
        assert set(words) <= {word for t in TEXTS[label] for word in t.split()}
    assert len({text for text, _ in extra}) > 60  # drawn afresh, not a few repeated rows


def test_mixed_rows_with_one_word_minimum_include_lone_words() -> None:
    texts, _ = augment(mixed_per_language=200, min_mixed_words=1, max_mixed_words=3)
    assert {len(text.split()) for text in texts[len(ROWS) :]} == {1, 2, 3}


def test_unaccenting_strips_latin_accents_only() -> None:
    rng = random.Random(0)
    assert unaccent_text("Informațiilor și Comunicații", rng) == "Informatiilor si Comunicatii"
    assert unaccent_text("navštívit Đắk Lắk", rng) == "navstivit Đak Lak"
    assert unaccent_text("Łódź øre straße", rng) == "Łodz øre straße"  # no decomposition: kept
    for text in ("नमस्ते दुनिया", "שָׁלוֹם", "Ελληνικά"):  # marks that are letters, not accents
        assert unaccent_text(text, rng) == text


def test_unaccented_rows_come_from_accented_latin_texts_alone() -> None:
    texts, labels = augment(unaccented=5.0)
    extra = list(zip(texts[len(ROWS) :], labels[len(ROWS) :], strict=True))
    assert dict(extra) == {"Datei offnen": "de", "Bonjour a tous": "fr", "Nouvelle fenetre": "fr"}


def test_crop_keeps_a_contiguous_run_of_at_least_half() -> None:
    rng = random.Random(0)
    text = "one two three four five six seven"
    for _ in range(50):
        crop = crop_text(text, rng)
        assert crop in text and crop != text
        assert len(crop.split()) >= 4
    assert crop_text("two words", rng) == "two words"  # too short to crop
    assert crop_text("打开文件窗口", rng) in "打开文件窗口"  # characters when there are no spaces


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("joined", -0.1, "joined=-0.1 must be >= 0"),
        ("max_joined", 1, "max_joined=1 must be >= 2"),
        ("mixed_per_language", -1, "mixed_per_language=-1 must be >= 0"),
        ("unaccented", -0.5, "unaccented=-0.5 must be >= 0"),
        ("min_mixed_words", 0, "min_mixed_words=0 and max_mixed_words=12: need 1 <= min <= max"),
        ("min_mixed_words", 13, "min_mixed_words=13 and max_mixed_words=12: need 1 <= min"),
    ],
)
def test_bad_settings_name_the_field(field: str, value: float, message: str) -> None:
    settings = {"joined": 0.1, "max_joined": 3, "recased": 0.0, "cropped": 0.0, field: value}
    with pytest.raises(ValueError, match=f"data.augmentation.{message}"):
        TextAugmentation(**settings)


def test_datamodule_augments_the_training_split_alone(tmp_path: Path) -> None:
    data = write_jsonl_splits(tmp_path, ["aa", "bb"])
    plain = text_datamodule(data, augmentation=None)
    plain.setup("fit")
    augmentation = {"joined": 1.0, "max_joined": 4, "recased": 0.0, "cropped": 0.0}
    dm = text_datamodule(data, augmentation=augmentation)
    dm.setup("fit")
    assert len(dm.encoded["train"]) == 2 * len(plain.encoded["train"]) == 2 * 2 * 48
    for split in ("validation", "test"):
        assert len(dm.encoded[split]) == len(plain.encoded[split])
