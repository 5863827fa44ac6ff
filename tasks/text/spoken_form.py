"""Normalise English text to its spoken form: the words a reader says aloud.

``to_spoken_form("Save 50% & get 2 files, e.g. <b>now</b>!")`` gives
``"save fifty percent and get two files for example now"``: markup and format placeholders
are removed, numbers, symbols and common abbreviations become words, and the result keeps
only ``a-z``, the apostrophe and single spaces, which is the alphabet of the speech corpus.
"""

from __future__ import annotations

import html
import re
import unicodedata

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_WORDS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}

# Written abbreviations and the words read for them (matched case-insensitively, whole word).
ABBREVIATIONS = {
    "e.g.": "for example",
    "i.e.": "that is",
    "etc.": "et cetera",
    "vs.": "versus",
    "approx.": "approximately",
    "mr.": "mister",
    "mrs.": "missus",
    "dr.": "doctor",
    "st.": "saint",
    "no.": "number",
    "min.": "minimum",
    "max.": "maximum",
    "w/o": "without",
    "w/": "with",
}
# Units read after a number ("5 MB" -> "five megabytes").
UNITS = {
    "kb": "kilobytes",
    "mb": "megabytes",
    "gb": "gigabytes",
    "tb": "terabytes",
    "kib": "kibibytes",
    "mib": "mebibytes",
    "gib": "gibibytes",
    "ms": "milliseconds",
    "s": "seconds",
    "sec": "seconds",
    "min": "minutes",
    "h": "hours",
    "hz": "hertz",
    "khz": "kilohertz",
    "mhz": "megahertz",
    "ghz": "gigahertz",
    "km": "kilometres",
    "m": "metres",
    "cm": "centimetres",
    "mm": "millimetres",
    "kg": "kilograms",
    "g": "grams",
    "px": "pixels",
}
SYMBOLS = {
    "%": " percent ",
    "&": " and ",
    "+": " plus ",
    "@": " at ",
    "=": " equals ",
    "#": " number ",
}

_MARKUP = re.compile(r"<[^<>]{0,200}>")
# printf (%s, %1$d, %-5.2f, %(name)s), brace ({0}, {name}) and shell ($HOME, ${x}) placeholders
PLACEHOLDER = re.compile(
    r"%(?:\([A-Za-z_]\w*\)|\d+\$)?[-+#0']*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|L|q|j|z|t|I64)?"
    r"[diouxXeEfFgGcrsaAbpnSm@]|\{[^{}]*\}|\$\{?[A-Za-z_]\w*\}?"
)
# GTK/Qt mnemonics: "_File", "&Open" (but not "&&" nor "& " nor entities).
_ACCELERATOR = re.compile(r"(?<![\w&])[_&](?=[A-Za-z])")
_CURRENCY = re.compile(r"([$€£])\s?(\d[\d,]*(?:\.\d+)?)")
_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_NUMBER_UNIT = re.compile(r"\b(\d[\d,]*(?:\.\d+)?)\s?([A-Za-z]+)\b")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_CURRENCY_WORDS = {"$": ("dollar", "dollars"), "€": ("euro", "euros"), "£": ("pound", "pounds")}


def number_to_words(n: int) -> str:
    """Cardinal number in words: ``2024 -> "two thousand twenty four"``."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + ("" if rest == 0 else " " + number_to_words(rest))
    for scale, name in _SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            words = number_to_words(high) + " " + name
            return words + ("" if rest == 0 else " " + number_to_words(rest))
    raise AssertionError("unreachable")


def ordinal_to_words(n: int) -> str:
    """Ordinal number in words: ``21 -> "twenty first"``."""
    words = number_to_words(n).split()
    last = words[-1]
    if last in _ORDINAL_WORDS:
        words[-1] = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def _number_text(token: str) -> str:
    """Digits (thousands separators allowed, optional decimals) in words."""
    whole, _, frac = token.replace(",", "").partition(".")
    words = number_to_words(int(whole))
    if frac:
        words += " point " + " ".join(_ONES[int(d)] for d in frac)
    return words


def _currency(match: re.Match[str]) -> str:
    singular, plural = _CURRENCY_WORDS[match.group(1)]
    whole, _, cents = match.group(2).replace(",", "").partition(".")
    spoken = f" {number_to_words(int(whole))} {singular if whole == '1' else plural} "
    if cents.strip("0"):
        spoken += f"{number_to_words(int(cents[:2].ljust(2, '0')))} cents "
    return spoken


def _number_unit(match: re.Match[str]) -> str:
    number, unit = match.group(1), match.group(2)
    if unit.lower() not in UNITS:
        return f"{number} {unit}"
    return f"{number} {UNITS[unit.lower()]}"


def strip_markup(text: str) -> str:
    """Remove XML/HTML tags, decode entities, drop placeholders and accelerator marks."""
    text = _MARKUP.sub(" ", text)
    text = html.unescape(text)
    text = PLACEHOLDER.sub(" ", text)
    return _ACCELERATOR.sub("", text)


def to_spoken_form(text: str) -> str:
    """Spoken form of ``text``: lowercase words over ``a-z``, ``'`` and single spaces."""
    text = strip_markup(text)
    # curly apostrophes to ASCII ("don’t" -> "don't"); accents are folded below ("café" -> "cafe")
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    for written, spoken in ABBREVIATIONS.items():
        text = re.sub(rf"(?<!\w){re.escape(written)}(?!\w)", f" {spoken} ", text, flags=re.I)
    text = _CURRENCY.sub(_currency, text)
    text = _ORDINAL.sub(lambda m: " " + ordinal_to_words(int(m.group(1))) + " ", text)
    text = _NUMBER_UNIT.sub(_number_unit, text)
    text = _NUMBER.sub(lambda m: " " + _number_text(m.group(0)) + " ", text)
    for symbol, spoken in SYMBOLS.items():
        text = text.replace(symbol, spoken)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z' ]+", " ", text.lower())
    # apostrophes only inside words ("don't" keeps it, quoted 'words' lose theirs)
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)
    return " ".join(text.split())
