"""Turn UI messages from gettext catalogs into natural-language sentences.

Catalog strings carry software machinery around the prose: format placeholders
(``%s``, ``%(name)s``, ``{0}``), keyboard accelerator markers (``_File``, ``&Open``,
``~Save``, ``(_F)``), markup (``<b>``, ``&amp;``), URLs, file paths and command-line
options. :func:`clean_message` strips that machinery; :func:`is_natural_language`
rejects what is left when it is too short or mostly digits and punctuation.
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass

# printf conversions incl. positional (%1$s), flags/width/precision (%-10.*s) and length
# modifiers (%lu, %zu, %lld), plus Python's named form %(name)s; "%%" is a literal percent.
_PRINTF = re.compile(
    r"%%|%(?:\(\w+\))?(?:\d+\$)?[-+ #0']*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|L|q|j|z|t|I64)?[diouxXeEfFgGaAcspnm@]"
)
# str.format / ICU / shell-style fields: {}, {0}, {name}, {name:fmt}, ${var}, $VAR, @VAR@.
_BRACES = re.compile(r"\$?\{[\w.:!\-\[\]]*\}|\$[A-Z_][A-Z0-9_]*\b|@[A-Z_]+@")
_URL = re.compile(r"(?:https?|ftp|file)://\S+|www\.\S+|\S+@\S+\.\w+", re.IGNORECASE)
# Absolute, home-relative and Windows paths, and dotted/slashed tokens like a/b/c.
_PATH = re.compile(r"(?:~|\b[A-Za-z]:)?(?:[/\\][\w.\-*]+){2,}[/\\]?|(?<![\w])[~.]?/[\w.\-*]+")
_OPTION = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*(?:=\S*)?")
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
# A bracketed accelerator appended in CJK locales: "ファイル(_F)", "(&O)".
_BRACKETED_ACCEL = re.compile(r"\s*[(（]\s*[_&~]\w\s*[)）]")
# "_File", "&Open", "~Save": the marker precedes a letter at a word start or inside a word.
_ACCEL = re.compile(r"(?<![_&~])[_&~](?=\w)")
# snake_case/CONSTANT_CASE tokens; only those copied from the msgid are code identifiers,
# the others are accelerators placed inside a translated word ("Spei_chern").
_IDENTIFIER = re.compile(r"\b\w+_\w+\b")
_EMPTY_QUOTES = re.compile(r"(['\"`‘’“”«»„‚‹›「『])\s*(['\"’”«»“‹›」』])")
_EMPTY_BRACKETS = re.compile(r"[(\[]\s*[)\]]")
_SPACE = re.compile(r"\s+")
_DANGLING = re.compile(r"\s+([,.;:!?])")


@dataclass(frozen=True)
class CleaningRules:
    """Thresholds deciding whether a cleaned message is a natural-language sentence.

    Args:
        min_letters: at least this many alphabetic characters (any script).
        min_letter_ratio: letters / non-space characters, rejects "1.2.3", "%s: %s", "--".
        max_chars: longer messages (licence blurbs, long help pages) are rejected.
    """

    min_letters: int = 3
    min_letter_ratio: float = 0.5
    max_chars: int = 300


def strip_context(msgid: str) -> str:
    """Drop a gettext message context: ``"menu\\x04Open"`` -> ``"Open"``."""
    return msgid.rsplit("\x04", 1)[-1]


def clean_message(text: str) -> str:
    """Remove placeholders, accelerators, markup, URLs, paths and options; tidy spaces."""
    # Each pattern needs a character most messages lack; testing for it first keeps the
    # regex engine off them (a corpus build cleans about two million messages).
    if "<" in text:
        text = _TAG.sub(" ", text)
    if "@" in text or "://" in text or "www." in text.lower():
        text = _URL.sub(" ", text)
    if "%" in text:
        text = _PRINTF.sub(lambda m: "%" if m[0] == "%%" else " ", text)
    if "{" in text or "$" in text or "@" in text:
        text = _BRACES.sub(" ", text)
    if ("(" in text or "（" in text) and ("_" in text or "&" in text or "~" in text):
        text = _BRACKETED_ACCEL.sub("", text)
    text = html.unescape(text)
    if "/" in text or "\\" in text:
        text = _PATH.sub(" ", text)
    if "-" in text:
        text = _OPTION.sub(" ", text)
    if "_" in text or "&" in text or "~" in text:
        text = _ACCEL.sub("", text)
    for _ in range(2):  # placeholders removed from '%s' leave '' behind, maybe nested
        text, quotes = _EMPTY_QUOTES.subn(" ", text)
        text, brackets = _EMPTY_BRACKETS.subn(" ", text)
        if not quotes + brackets:
            break
    text = _DANGLING.sub(lambda m: m[1], " ".join(text.split()))
    return text.strip(" :;,-=|*")


@functools.lru_cache(maxsize=1 << 18)
def clean_source(english: str) -> str:
    """:func:`clean_message` of an English source string without its message context.

    Cached: every locale's catalog repeats the same sources, and the corpus build cleans
    each once per translation.
    """
    return clean_message(strip_context(english))


def is_natural_language(text: str, rules: CleaningRules) -> bool:
    """Whether a cleaned message looks like prose rather than a symbol, number or code."""
    if not text or len(text) > rules.max_chars:
        return False
    letters = sum(map(str.isalpha, text))
    visible = len(text) - sum(map(str.isspace, text))
    return letters >= rules.min_letters and letters >= rules.min_letter_ratio * visible


def clean_translation(msgid: str, msgstr: str, rules: CleaningRules) -> str | None:
    """The cleaned translation, or ``None`` when it is not usable.

    A translation equal to its cleaned English source is untranslated (or a proper name,
    product name or code identical in every language) and carries no language signal.
    """
    identifiers = set(_IDENTIFIER.findall(msgid)) if "_" in msgid else set()
    if identifiers:
        msgstr = _IDENTIFIER.sub(lambda m: " " if m[0] in identifiers else m[0], msgstr)
    text = clean_message(msgstr)
    if not is_natural_language(text, rules):
        return None
    if text.casefold() == clean_source(msgid).casefold():
        return None
    return text
