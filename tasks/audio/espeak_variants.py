"""Voice variants of one's own for espeak-ng, next to the ones the library ships.

espeak-ng looks variants up by name in ``<data>/voices/!v/``. :func:`variant_overlay` builds a
data folder that is the installed one (every entry a symbolic link), which
:class:`~tasks.audio.espeak.EspeakSynthesizer` starts the library on, and :func:`add_variants`
writes variant files of one's own into it.

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
# Where a data folder keeps its variants.
VARIANTS_SUBDIR = Path("voices", "!v")


def installed_variants_dir() -> Path:
    return Path(espeakng_loader.get_data_path()) / VARIANTS_SUBDIR


def _installed_variant(name: str) -> list[str]:
    path = installed_variants_dir() / name
    if not path.is_file():
        known = sorted(p.name for p in installed_variants_dir().iterdir())
        raise ValueError(f"unknown espeak-ng variant {name!r}; installed: {known}")
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def whispered_variant(base: str) -> str:
    """The voice-file text of a whispered copy of the installed variant ``base``.

    The base file is kept (formants, pitch, stress) and followed by the phonation lines of
    espeak-ng's ``whisper`` variant; its formant 0 (the low voicing bar) is silenced, as in
    ``whisper``. Later lines override earlier ones in a voice file. It is named
    ``<base>-whisper``.
    """
    lines = [line for line in _installed_variant(base) if not line.startswith("name ")]
    freq, width = "100", "100"  # formant 0: frequency and width (%), height replaced by 0
    for line in lines:
        fields = line.split()
        if fields[:2] == ["formant", "0"] and len(fields) >= 5:
            freq, width = fields[2], fields[4]
    phonation = [
        line
        for line in _installed_variant("whisper")
        if line.partition(" ")[0] in _PHONATION_KEYWORDS
    ]
    return "\n".join(
        [f"name {base}{WHISPER_SUFFIX}", *lines, f"formant 0 {freq} 0 {width}", *phonation]
    )


def derived_variants(whispered: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``<base>-whisper -> voice-file text`` for every installed variant in ``whispered``."""
    return {base + WHISPER_SUFFIX: whispered_variant(base) for base in whispered}


def variant_overlay(parent: str | Path | None = None) -> Path:
    """The espeak-ng data folder the library runs on: the installed one, every entry linked,
    with a ``voices/!v/`` folder that :func:`add_variants` can add files to.

    espeak-ng reads a variant's file each time a voice names it, so variants added while the
    library runs are found; restarting the library on another folder instead is not safe
    once it has spoken. One folder per installed data folder and user, under ``parent``
    (the temporary directory by default), shared by processes and reused.
    """
    installed = Path(espeakng_loader.get_data_path())
    key = hashlib.sha1(f"{installed}:{os.getuid()}".encode()).hexdigest()[:12]
    root = Path(parent or tempfile.gettempdir()) / f"lstmkit-espeak-ng-data-{key}"
    if (root / VARIANTS_SUBDIR).is_dir():
        return root
    partial = root.with_name(f"{root.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    _link_children(installed, partial, skip="voices")
    _link_children(installed / "voices", partial / "voices", skip="!v")
    _link_children(installed / VARIANTS_SUBDIR, partial / VARIANTS_SUBDIR, skip="")
    try:
        partial.rename(root)
    except OSError:  # another process built it first
        shutil.rmtree(partial, ignore_errors=True)
    return root


def add_variants(overlay: Path, variants: Mapping[str, str]) -> None:
    """Write ``variants`` (name -> voice-file text) into ``overlay``'s variant folder.

    A name may not be an installed variant's, and a name added before keeps its text: a
    variant means the same voice in every process that shares the folder.
    """
    installed = {p.name for p in installed_variants_dir().iterdir()}
    for name, text in variants.items():
        if not _VARIANT_NAME.match(name) or name in installed:
            raise ValueError(
                f"espeak-ng variant name {name!r}: use letters, digits, '-' and '_', and a "
                f"name that is not an installed variant's"
            )
        path = overlay / VARIANTS_SUBDIR / name
        content = text + "\n"
        if path.is_file():
            if path.read_text(encoding="utf-8") != content:
                raise ValueError(
                    f"espeak-ng variant {name!r} is already defined differently in {path}; "
                    f"give the new variant another name"
                )
            continue
        tmp = path.with_name(f".{name}.tmp-{os.getpid()}")
        tmp.write_text(content, encoding="utf-8")
        tmp.replace(path)  # atomic: the library never reads half a file


def _link_children(source: Path, target: Path, skip: str) -> None:
    target.mkdir(parents=True)
    for child in source.iterdir():
        if child.name != skip:
            (target / child.name).symlink_to(child)
