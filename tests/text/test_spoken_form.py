import pytest

from tasks.text.spoken_form import number_to_words, ordinal_to_words, to_spoken_form


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("Save 50% & get 2 files!", "save fifty percent and get two files"),
        (
            "It costs $1,250.50 or £1",
            "it costs one thousand two hundred fifty dollars fifty cents or one pound",
        ),
        ("The 21st and 3rd times", "the twenty first and third times"),
        ("Use 5 MB at 2.5 GHz", "use five megabytes at two point five gigahertz"),
        ("A+B = C @ home #1", "a plus b equals c at home number one"),
        ("Mr. Smith vs. Dr. Who, e.g. today", "mister smith versus doctor who for example today"),
        ("<b>Bold</b> &amp; <i>italic</i>", "bold and italic"),
        ("_Open the file…", "open the file"),
        ("&Save As", "save as"),
        ("Cannot open %s: %d bytes", "cannot open bytes"),
        ("Hello {0} and %(name)s and ${HOME}", "hello and and"),
        ("Don’t say “hello” to 'them'", "don't say hello to them"),
        ("Café résumé naïve", "cafe resume naive"),
        ("  Many\tspaces\n here  ", "many spaces here"),
        ("1000000 items", "one million items"),
    ],
)
def test_spoken_form(written: str, spoken: str) -> None:
    assert to_spoken_form(written) == spoken


def test_spoken_form_alphabet_is_closed() -> None:
    text = to_spoken_form("Ünïcödé? ¿Qué? 3/4 ~ [x] | y; 10^3 * z €5 — ok")
    assert set(text) <= set("abcdefghijklmnopqrstuvwxyz' ")
    assert "  " not in text and text == text.strip()


def test_number_words() -> None:
    assert number_to_words(0) == "zero"
    assert number_to_words(105) == "one hundred five"
    assert number_to_words(2024) == "two thousand twenty four"
    assert number_to_words(1_000_001) == "one million one"
    assert number_to_words(-7) == "minus seven"
    assert ordinal_to_words(12) == "twelfth"
    assert ordinal_to_words(40) == "fortieth"
    assert ordinal_to_words(101) == "one hundred first"
