"""Voice variants of one's own for espeak-ng, next to the ones the library ships.

espeak-ng looks variants up by name in ``<data>/voices/!v/``. :func:`variant_overlay` builds a
data folder that is the installed one (every entry a symbolic link) plus extra variant files,
and :class:`~tasks.audio.espeak.EspeakSynthesizer` starts the library on it when it is given
extra variants.

:func:`whispered_variant` derives a whispered copy of an installed variant: the base's
formants, pitch and rhythm with the phonation of espeak-ng's ``whisper`` variant (little
voicing, breath noise over the formants), so whispered speech is not tied to the one
speaker that ``whisper`` models.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import espeakng_loader

WHISPER_SUFFIX = "-whisper"
# Keywords of a variant file that make up its phonation (voice source), not its vocal tract.
_PHONATION_KEYWORDS = ("voicing", "breath", "breathw")
_VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def installed_variants_dir() -> Path:
    return Path(espeakng_loader.get_data_path()) / "voices" / "!v"


def _installed_variant(name: str) -> list[str]:
    path = installed_variants_dir() / name
    if not path.is_file():
        known = sorted(p.name for p in installed_variants_dir().iterdir())
        raise ValueError(f"unknown espeak-ng variant {name!r}; installed: {known}")
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def whispered_variant(base: str, name: str | None = None) -> str:
    """The voice-file text of a whispered copy of the installed variant ``base``.

    The base file is kept (formants, pitch, stress) and followed by the phonation lines of
    espeak-ng's ``whisper`` variant; its formant 0 (the low voicing bar) is silenced, as in
    ``whisper``. Later lines override earlier ones in a voice file.
    """
    lines = [line for line in _installed_variant(base) if not line.startswith("name ")]
    formant0 = ["0", "100", "100", "100"]
    for line in lines:
        fields = line.split()
        if fields[:2] == ["formant", "0"] and len(fields) >= 5:
            formant0 = fields[1:5]
    phonation = [
        line
        for line in _installed_variant("whisper")
        if line.split()[:1] and line.split()[0] in _PHONATION_KEYWORDS
    ]
    freq, _, width = formant0[1], formant0[2], formant0[3]
    return "\n".join(
        [f"name {name or base + WHISPER_SUFFIX}", *lines, f"formant 0 {freq} 0 {width}", *phonation]
    )


def derived_variants(whispered: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``<base>-whisper -> voice-file text`` for every installed variant in ``whispered``."""
    return {base + WHISPER_SUFFIX: whispered_variant(base) for base in whispered}


def variant_overlay(variants: Mapping[str, str], parent: str | Path | None = None) -> Path:
    """An espeak-ng data folder: the installed data plus ``variants`` (name -> voice-file text).

    Built once per set of variants under ``parent`` (the temporary directory by default) and
    reused; an installed variant of the same name is replaced.
    """
    for name in variants:
        if not _VARIANT_NAME.match(name):
            raise ValueError(f"espeak-ng variant name {name!r}: use letters, digits, '-' and '_'")
    key = hashlib.sha1(repr(sorted(variants.items())).encode()).hexdigest()[:12]
    installed = Path(espeakng_loader.get_data_path())
    root = Path(parent or tempfile.gettempdir()) / f"lstmkit-espeak-ng-data-{key}"
    if (root / "voices" / "!v").is_dir():
        return root
    partial = root.with_name(f"{root.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    _link_children(installed, partial, skip="voices")
    _link_children(installed / "voices", partial / "voices", skip="!v")
    _link_children(installed / "voices" / "!v", partial / "voices" / "!v", skip=set(variants))
    for name, text in variants.items():
        (partial / "voices" / "!v" / name).write_text(text + "\n", encoding="utf-8")
    try:
        partial.rename(root)
    except OSError:  # another process built the same overlay first
        shutil.rmtree(partial, ignore_errors=True)
    return root


def _link_children(source: Path, target: Path, skip: str | set[str]) -> None:
    skipped = {skip} if isinstance(skip, str) else skip
    target.mkdir(parents=True)
    for child in source.iterdir():
        if child.name not in skipped:
            (target / child.name).symlink_to(child)
