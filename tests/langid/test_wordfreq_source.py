"""Texts drawn from wordfreq's word-frequency lists: reproducible, shaped as configured."""

import pytest

from tasks.langid.data.cleaning import CleaningRules
from tasks.langid.data.sources import make_source
from tasks.langid.data.sources.wordfreq_source import WordFrequencySource

pytest.importorskip("wordfreq")


def test_texts_are_reproducible_and_shaped_as_configured() -> None:
    options = {"texts_per_language": 300, "languages": ["fi", "ja"], "max_words": 8}
    first = list(make_source("wordfreq", options).sentences(CleaningRules()))
    again = list(make_source("wordfreq", options).sentences(CleaningRules()))
    assert first == again
    assert [s.original_id for s in first[:2]] == ["fi:0#0", "fi:0#1"]
    finnish = [s.text for s in first if s.language == "fi"]
    japanese = [s.text for s in first if s.language == "ja"]
    assert len(finnish) == 300
    assert 290 <= len(japanese) < 300  # a text of two one-kana words is under min_letters
    words = [len(t.rstrip(".!?").split()) for t in finnish]
    assert min(words) == 2 and max(words) == 8
    assert sum(t[0].isupper() for t in finnish) / 300 == pytest.approx(0.5, abs=0.1)
    assert sum(t[-1] in ".!?" for t in finnish) / 300 == pytest.approx(0.3, abs=0.1)
    assert not any(" " in t for t in japanese)  # written without spaces
    reseeded = make_source("wordfreq", {**options, "seed": 1}).sentences(CleaningRules())
    assert [s.text for s in reseeded] != [s.text for s in first]


def test_words_skip_borrowed_english_and_non_words() -> None:
    import wordfreq

    english = wordfreq.get_frequency_dict("en", "best")
    finnish = wordfreq.get_frequency_dict("fi", "best")
    words, cumulative = WordFrequencySource(vocabulary=3000).words("fi", english)
    assert len(words) == len(cumulative) and cumulative == sorted(cumulative)
    assert "ja" in words and "että" in words
    assert all(any(c.isalpha() for c in w) for w in words)
    assert all(english.get(w, 0.0) <= finnish[w] for w in words)
    top = sorted(finnish, key=finnish.get, reverse=True)[:3000]
    assert any(english.get(w, 0.0) > finnish[w] for w in top)  # there was something to skip


def test_words_are_ranked_by_frequency_then_alphabetically() -> None:
    import wordfreq

    source = WordFrequencySource(vocabulary=5000, exponent=1.0)
    words, cumulative = source.words("en", {})
    frequencies = wordfreq.get_frequency_dict("en", "best")
    ranked = sorted(frequencies, key=lambda w: (-frequencies[w], w))[:5000]
    assert words == [w for w in ranked if any(c.isalpha() for c in w)]
    weights = [b - a for a, b in zip([0.0, *cumulative], cumulative, strict=False)]
    assert weights == pytest.approx([frequencies[w] for w in words])


def test_unknown_language_and_one_word_texts_are_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"wordfreq has no list for 'xx'"):
        list(make_source("wordfreq", {"languages": ["xx"]}).sentences(CleaningRules()))
    with pytest.raises(ValueError, match=r"data.corpus.sources.wordfreq: .*at least 2"):
        make_source("wordfreq", {"max_words": 1})
