"""Text-to-speech with espeak-ng through ``ctypes`` (the library and voices ship in ``espeakng-loader``).

The library runs in synchronous mode: ``espeak_Synth`` returns only after the whole text has
been rendered, and a synth callback receives the audio as ``int16`` chunks at the library's
native rate (22050 Hz), which are concatenated.

Reproducibility: the waveform generator keeps state between calls in static variables
(flutter phase, glottal cycle counter, echo buffer, command queue indices, Klatt timing) and
draws noise from its own and libc's random generators, so the same text normally comes out
slightly different depending on what was spoken before. The synthesiser snapshots those
variables right after initialisation (located through the library's ELF symbol table) and
restores them, and re-seeds both generators, before every call: the same
``(text, voice, rate, pitch, range)`` gives the same samples whatever the call history.

Thread and process safety: libespeak-ng keeps one global state per process (current voice,
parameters, callback), so every call into it is serialised by a module-level lock and
:class:`EspeakSynthesizer` objects of one process share that state. In synchronous mode the
library starts no threads, so a forked child (e.g. a ``multiprocessing`` pool worker) can keep
using the copy it inherits, or initialise its own on first use: a pool of processes
synthesises in parallel safely; threads of one process take turns.
"""

from __future__ import annotations

import ctypes
import struct
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import espeakng_loader
import numpy as np

from tasks.audio.espeak_variants import add_variants, installed_variants_dir, variant_overlay

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_OK = 0
# espeak_PARAMETER values (speak_lib.h)
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


# Static variables of the waveform generator that carry state from one utterance to the next.
_HISTORY_SYMBOLS = (
    # wavegen.c: flutter phase, glottal cycles, amplitude/pitch envelopes, harmonics, echo
    "Flutter_ix",
    "amplitude2",
    "cycle_count",
    "cycle_samples",
    "amp_inc",
    "amp_ix",
    "echo_buf",
    "echo_head",
    "echo_tail",
    "echo_complete",
    "end_wave",
    "h_switch_sign",
    "harm_inc",
    "hspect",
    "hswitch",
    "maxh",
    "maxh2",
    "n_samples",
    "nsamples",
    "peak_harmonic",
    "peaks",
    "phaseinc",
    "sample_count",
    "samplecount_start",
    "count_samples",
    "wave_flag",
    "ix",
    "last_amp_cmd",
    "last_pitch_cmd",
    "syllable_end",
    "syllable_start",
    "wcmdq_head",
    "wcmdq_tail",
    "last_wcmdq",
    "tone_posn",
    "tone_posn2",
    # klatt.c: synthesiser state, noise generator, frame interpolation
    "kt_frame",
    "klattp",
    "klattp1",
    "klattp_inc",
    "nlast",
    "noise",
    "time_count",
    # speech.c / setlengths.c: parameters and the speed tables derived from them
    "param_stack",
    "saved_parameters",
    "speech_parameters",
    "embedded_value",
    "speed",
    # synthesize.c / sPlayer.c: frame interpolation between phonemes
    "prev_fr",
    "source",
    "sourceix",
)
_RANDOM_SEED = 1


class _EspeakVoice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


@dataclass(frozen=True)
class VoiceInfo:
    """One installed voice: ``name`` for :meth:`EspeakSynthesizer.synthesize`, its languages."""

    name: str
    identifier: str
    languages: tuple[str, ...]


class EspeakError(RuntimeError):
    """libespeak-ng refused a request (unknown voice, failed initialisation, ...)."""


_lock = threading.Lock()
_state: dict[str, object] = {}  # library handle, sample rate, data folder, initial state


def _library() -> tuple[ctypes.CDLL, int]:
    """The initialised library of this process and its output sample rate.

    It runs on :func:`variant_overlay`, the installed voices plus a folder for variants of
    one's own, so that new variants never need a restart.
    """
    if "lib" not in _state:
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_EspeakVoice))
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        data_path = variant_overlay()
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_path).encode(), 0)
        if rate <= 0:
            raise EspeakError(f"espeak_Initialize failed (data path {str(data_path)!r})")
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        _state.update(lib=lib, rate=rate, data_path=data_path, history=_snapshot_history(lib))
    return _state["lib"], _state["rate"]  # type: ignore[return-value]


def _elf_symbols(path: str) -> dict[str, list[tuple[int, int]]]:
    """``name -> [(offset, size), ...]`` of the sized symbols in an ELF64 file's ``.symtab``.

    Static (file-local) variables are only listed there, not in the dynamic symbol table.
    Names like ``ix.6072`` (compiler-renamed function statics) lose their suffix, so one
    name can stand for the statics of several functions or files.
    """
    data = Path(path).read_bytes()
    if data[:5] != b"\x7fELF\x02":
        return {}
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)
    ]
    symbols: dict[str, list[tuple[int, int]]] = {}
    for _, sh_type, _, _, offset, size, link, _, _, entsize in sections:
        if sh_type != 2:  # SHT_SYMTAB
            continue
        strtab_offset = sections[link][4]
        for pos in range(offset, offset + size, entsize):
            name_at, _, _, _, value, sym_size = struct.unpack_from("<IBBHQQ", data, pos)
            if sym_size == 0:
                continue
            end = data.index(b"\0", strtab_offset + name_at)
            name = data[strtab_offset + name_at : end].decode(errors="replace").split(".")[0]
            symbols.setdefault(name, []).append((value, sym_size))
    return symbols


def _snapshot_history(lib: ctypes.CDLL) -> list[tuple[int, bytes]]:
    """``(address, initial bytes)`` of the variables in ``_HISTORY_SYMBOLS``."""
    symbols = _elf_symbols(espeakng_loader.get_library_path())
    if "espeak_Initialize" not in symbols or not all(n in symbols for n in _HISTORY_SYMBOLS):
        warnings.warn(
            "libespeak-ng has no symbol table for its generator state: synthesis is not "
            "reproducible across call histories",
            stacklevel=3,
        )
        return []
    base = (
        ctypes.cast(lib.espeak_Initialize, ctypes.c_void_p).value
        - symbols["espeak_Initialize"][0][0]
    )
    history = []
    for name in _HISTORY_SYMBOLS:
        for offset, size in symbols[name]:
            history.append((base + offset, ctypes.string_at(base + offset, size)))
    return history


def _reset_history(lib: ctypes.CDLL) -> None:
    for address, initial in _state["history"]:  # type: ignore[union-attr]
        ctypes.memmove(address, initial, len(initial))
    lib.espeak_ng_SetRandSeed(_RANDOM_SEED)
    _libc.srand(_RANDOM_SEED)  # the Klatt voices draw their noise from libc's rand()


_libc = ctypes.CDLL(None)


def list_voices() -> list[VoiceInfo]:
    """All installed language voices (not the variants), e.g. ``en-us`` for American English."""
    with _lock:
        lib, _ = _library()
        voices = lib.espeak_ListVoices(None)
        found = []
        i = 0
        while voices[i]:
            v = voices[i].contents
            found.append(
                VoiceInfo(v.name.decode(), v.identifier.decode(), _parse_languages(v.languages))
            )
            i += 1
    return found


def _parse_languages(ptr: int) -> tuple[str, ...]:
    """Decode espeak's ``languages`` field: repeated (priority byte, name, NUL), ended by NUL."""
    languages = []
    offset = 0
    while ctypes.c_ubyte.from_address(ptr + offset).value != 0:
        name = ctypes.string_at(ptr + offset + 1)
        languages.append(name.decode())
        offset += len(name) + 2
    return tuple(languages)


def list_variants() -> list[str]:
    """Names of the voice variants (``m1``, ``f3``, ``croak``, ...) usable as ``<voice>+<variant>``."""
    return sorted(p.name for p in installed_variants_dir().iterdir() if p.is_file())


class EspeakSynthesizer:
    """Render text to speech with an espeak-ng voice.

    Example::

        synth = EspeakSynthesizer()
        wave = synth.synthesize("hello world", voice="en-us+f3", rate=160, pitch=60)
        # wave: (S,) int16 at synth.sample_rate (22050 Hz)

    Voices are named as espeak-ng names them: a language voice (``en``, ``en-us``,
    ``en-gb-scotland``, ``fr``, ...) optionally followed by ``+<variant>`` (``m1``..``m7``,
    ``f1``..``f4``, ``croak``, ``whisper``, ...; see :func:`list_variants`).

    Args:
        extra_variants: variants of one's own, ``name -> voice-file text`` (for example
            from :func:`tasks.audio.espeak_variants.derived_variants`), usable as
            ``<voice>+<name>``; a name must not be an installed variant's.
    """

    def __init__(self, extra_variants: Mapping[str, str] | None = None) -> None:
        with _lock:
            _, self.sample_rate = _library()
            if extra_variants:
                add_variants(_state["data_path"], extra_variants)  # type: ignore[arg-type]

    def synthesize(
        self, text: str, voice: str = "en", rate: int = 175, pitch: int = 50, pitch_range: int = 50
    ) -> np.ndarray:
        """Speak ``text`` and return the waveform, shape ``(S,)``, ``int16``.

        Args:
            text: UTF-8 text; espeak reads digits and punctuation its own way, so pass text
                already in spoken form when the transcript must match the audio exactly.
            voice: voice name with optional variant, e.g. ``"en+f3"`` or ``"en-us+m2"``.
            rate: speaking rate in words per minute (espeak accepts 80..450).
            pitch: base pitch, 0..100.
            pitch_range: pitch variation (intonation), 0..100.
        """
        chunks: list[np.ndarray] = []

        def collect(wav: ctypes.POINTER(ctypes.c_short), n: int, _events: int) -> int:
            if wav and n > 0:
                chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0  # 0 = continue synthesis

        callback = _SYNTH_CALLBACK(collect)
        encoded = text.encode("utf-8") + b"\0"
        with _lock:
            lib, _ = _library()
            _reset_history(lib)
            # the voice is loaded on every call: synthesis changes some of its fields
            if lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
                raise EspeakError(
                    f"unknown espeak-ng voice {voice!r}; use a language voice from "
                    f"list_voices() optionally with '+<variant>' from list_variants()"
                )
            lib.espeak_SetParameter(_RATE, int(rate), 0)
            lib.espeak_SetParameter(_PITCH, int(pitch), 0)
            lib.espeak_SetParameter(_RANGE, int(pitch_range), 0)
            lib.espeak_SetSynthCallback(callback)
            status = lib.espeak_Synth(
                encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            if status != _EE_OK:
                raise EspeakError(f"espeak_Synth failed with status {status} for text {text!r}")
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(chunks)
