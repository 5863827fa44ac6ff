"""Map gettext locale names (``pt_BR``, ``sr@latin``, ``zh_TW``) to ISO 639 language codes.

A gettext locale is ``language[_TERRITORY][.codeset][@modifier]`` where ``language`` is
already an ISO 639-1 code, or ISO 639-3 when the language has no two-letter code
(``ast``, ``fur``, ``nds``). The label is the language alone:

* territories merge (``pt_BR`` and ``pt_PT`` -> ``pt``; ``zh_CN``, ``zh_TW`` and
  ``zh_HK`` -> ``zh``, Simplified and Traditional Chinese together, as langid.py and
  lingua report them);
* script and orthography modifiers merge (``sr@latin`` and ``sr`` -> ``sr``,
  ``ca@valencia`` -> ``ca``, ``uz@cyrillic`` -> ``uz``);
* English pseudo-locales that only re-typeset the source strings (``en@quot``,
  ``en@boldquot``) or transliterate them (``en@shaw``, Shavian) are dropped;
* retired or macro-language codes follow ISO's current ones (``iw`` -> ``he``,
  ``no`` -> ``nb``).
"""

from __future__ import annotations

import re

DROPPED_MODIFIERS = frozenset({"quot", "boldquot", "shaw"})
ALIASES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro", "no": "nb"}
_LANGUAGE = re.compile(r"[a-z]{2,3}")


def locale_to_language(locale: str) -> str | None:
    """ISO 639 code of a gettext locale name, or ``None`` when it names no language.

    >>> locale_to_language("pt_BR"), locale_to_language("sr@latin"), locale_to_language("en@quot")
    ('pt', 'sr', None)
    """
    base, _, modifier = locale.partition("@")
    if modifier in DROPPED_MODIFIERS:
        return None
    language = base.split(".", 1)[0].split("_", 1)[0].lower()
    if not _LANGUAGE.fullmatch(language):
        return None
    return ALIASES.get(language, language)
