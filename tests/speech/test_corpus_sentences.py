import pytest

from tasks.speech.data.corpus import is_natural_sentence, sentences_from_messages


@pytest.mark.parametrize(
    ("text", "natural"),
    [
        ("Whether font fallback is enabled.", True),
        ("Could not send the search request", True),
        ("cannot open database file `%s'", False),  # placeholder, lowercase start
        ("Cannot open %s for writing", False),  # placeholder
        ("Plug in the USB device now", False),  # acronym
        ("Open the settings.ini file please", False),  # file name
        ("Use --force to overwrite the file", False),  # option
        ("Set shared library name", True),
        ("Output", False),  # too short
        (
            "The quick brown fox jumps over the lazy dog again and again and again and again and again today and forever more",
            False,
        ),  # 22 words
        ("Enable the x86 emulation layer now", False),  # identifier with digits
        ("Call setValue before the end", False),  # camelCase
        ("Россия это страна на востоке", False),  # not ASCII letters
    ],
)
def test_natural_sentence_filter(text: str, natural: bool) -> None:
    assert is_natural_sentence(text, min_words=4, max_words=20) is natural


def test_sentences_are_split_stripped_normalised_and_deduplicated() -> None:
    messages = [
        "The file was saved. Press <b>Enter</b> to continue now!",
        "The file was saved.",
        "THE FILE WAS SAVED",  # acronym-like capitals: rejected
        "Cannot open %s for reading",
        "Delete 3 of the selected items",
    ]
    assert sentences_from_messages(messages, min_words=4) == [
        "delete three of the selected items",
        "press enter to continue now",
        "the file was saved",
    ]
