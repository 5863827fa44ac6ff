"""Render a synthetic speech corpus to an ``audiofolder`` layout.

A corpus is a list of :class:`UtteranceSpec` (text, voice, rate, pitch, noise, level, seed)
decided up front by the caller; rendering is then a pure function of each spec, so the
output bytes do not depend on the number of worker processes or their scheduling.

Layout written under ``out_dir`` (loadable with ``datasets.load_dataset("audiofolder",
data_dir=out_dir)``)::

    <split>/<file_name>          16-bit PCM audio (FLAC or WAV, from the file suffix)
    <split>/metadata.csv         file_name,<columns...>, rows sorted by file_name
    COMPLETE                     JSON summary, written last: its presence marks a full corpus

The corpus is first written to a temporary sibling folder and renamed into place, so an
interrupted generation never leaves a half corpus that looks complete. Utterances are
rendered by ``workers`` freshly spawned processes, each taking a fixed share in a fixed
order, so the same specs and worker count give the same bytes.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import queue
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from tasks.audio.espeak import EspeakSynthesizer
from tasks.audio.features import resample
from tasks.audio.io import write_audio
from tasks.audio.noise import add_noise, make_noise

COMPLETE_MARKER = "COMPLETE"


@dataclass(frozen=True)
class UtteranceSpec:
    """Everything that determines one rendered utterance.

    Attributes:
        split: output split folder (``train``, ``validation``, ``test``).
        file_name: audio file name inside the split folder (its suffix picks the format).
        text: what the voice says (already in spoken form when it must match a transcript).
        voice: espeak-ng voice, e.g. ``"en-us+f3"``.
        rate: words per minute.
        pitch: base pitch 0..100.
        pitch_range: intonation range 0..100.
        noise: noise kind (see ``tasks.audio.noise.NOISE_KINDS``) or ``None`` for clean audio.
        snr_db: signal-to-noise ratio of the added noise.
        peak: output peak level in ``(0, 1]``.
        seed: seed of this utterance's noise generator.
        columns: metadata columns written for this file (e.g. ``transcription``).
    """

    split: str
    file_name: str
    text: str
    voice: str
    rate: int = 175
    pitch: int = 50
    pitch_range: int = 50
    noise: str | None = None
    snr_db: float = 30.0
    peak: float = 0.9
    seed: int = 0
    columns: dict[str, str] = field(default_factory=dict)


def render_waveform(
    spec: UtteranceSpec,
    synth: EspeakSynthesizer,
    sample_rate: int,
    babble_sources: Sequence[np.ndarray] = (),
) -> np.ndarray:
    """The waveform of ``spec``, shape ``(S,)``, float32 at ``sample_rate``.

    Steps: synthesise at espeak's native rate, resample, add noise at ``snr_db``, scale to
    ``peak``.
    """
    native = synth.synthesize(
        spec.text, voice=spec.voice, rate=spec.rate, pitch=spec.pitch, pitch_range=spec.pitch_range
    )
    wave = torch.from_numpy(native.astype(np.float32) / 32768.0)
    wave = resample(wave, synth.sample_rate, sample_rate).numpy()
    if spec.noise is not None and wave.size:
        rng = np.random.default_rng(spec.seed)
        noise = make_noise(spec.noise, wave.size, rng, babble_sources)
        wave = add_noise(wave, noise.astype(np.float32), spec.snr_db)
    top = float(np.abs(wave).max()) if wave.size else 0.0
    if top > 0:
        wave = wave * (spec.peak / top)
    return wave.astype(np.float32)


def _render_shard(
    shard: list[UtteranceSpec],
    babble_specs: Sequence[UtteranceSpec],
    out_dir: str,
    sample_rate: int,
    done: multiprocessing.Queue,
    extra_variants: dict[str, str],
) -> None:
    """Render ``shard`` in order in a fresh process, reporting ``(file, seconds)`` per file.

    libespeak-ng keeps a little state from one utterance to the next that the synthesiser
    cannot reset, so each shard starts from a newly started library and always sees the
    same sequence of calls (babble bank first, then its utterances in order).
    """
    torch.set_num_threads(1)  # the shards provide the parallelism; the cores are shared
    synth = EspeakSynthesizer(extra_variants)
    babble = [render_waveform(spec, synth, sample_rate) for spec in babble_specs]
    for spec in shard:
        wave = render_waveform(spec, synth, sample_rate, babble)
        write_audio(Path(out_dir) / spec.split / spec.file_name, wave, sample_rate)
        done.put(((spec.split, spec.file_name), wave.size / sample_rate))


def is_complete(out_dir: str | Path) -> bool:
    """Whether ``out_dir`` holds a fully written corpus."""
    return (Path(out_dir) / COMPLETE_MARKER).is_file()


def read_summary(out_dir: str | Path) -> dict[str, object]:
    return json.loads((Path(out_dir) / COMPLETE_MARKER).read_text())


def render_corpus(
    specs: Sequence[UtteranceSpec],
    out_dir: str | Path,
    sample_rate: int = 16000,
    babble_specs: Sequence[UtteranceSpec] = (),
    workers: int = 2,
    extra_summary: dict[str, object] | None = None,
    desc: str = "synthesising",
    extra_variants: dict[str, str] | None = None,
) -> dict[str, object]:
    """Render ``specs`` into the audiofolder layout at ``out_dir`` (skipped if complete).

    Args:
        specs: the utterances; ``(split, file_name)`` pairs must be unique.
        out_dir: final corpus folder.
        sample_rate: output rate in Hz.
        babble_specs: clean utterances rendered first and mixed as babble noise.
        workers: rendering processes (the audio depends on this number, slightly).
        extra_summary: recorded in the ``COMPLETE`` marker (e.g. the generating config).
        desc: progress-bar label.
        extra_variants: espeak-ng variants of one's own the specs' voices use
            (``name -> voice-file text``, see :mod:`tasks.audio.espeak_variants`).

    Returns:
        The summary written to the marker: utterances and hours per split, wall time.
    """
    out_dir = Path(out_dir)
    if is_complete(out_dir):
        return read_summary(out_dir)
    names = [(s.split, s.file_name) for s in specs]
    if len(set(names)) != len(names):
        raise ValueError("utterance specs must have unique (split, file_name) pairs")
    start = time.perf_counter()
    tmp_dir = out_dir.with_name(f"{out_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    for split in sorted({s.split for s in specs}):
        (tmp_dir / split).mkdir(parents=True)

    # Shard k of ``workers`` holds utterances k, k + workers, ...; every shard runs in a
    # freshly spawned process, so the audio depends on (specs, workers) only.
    context = multiprocessing.get_context("spawn")
    done = context.Queue()
    shards = [
        context.Process(
            target=_render_shard,
            args=(
                list(specs[k::workers]),
                list(babble_specs),
                str(tmp_dir),
                sample_rate,
                done,
                dict(extra_variants or {}),
            ),
        )
        for k in range(max(1, workers))
    ]
    for process in shards:
        process.start()
    seconds: dict[tuple[str, str], float] = {}
    with tqdm(total=len(specs), desc=desc, unit="utt", dynamic_ncols=True) as progress:
        while len(seconds) < len(specs):
            try:
                name, duration = done.get(timeout=5)
            except queue.Empty:
                if any(p.exitcode not in (None, 0) for p in shards):
                    raise RuntimeError(
                        "a corpus rendering process failed (exit codes "
                        f"{[p.exitcode for p in shards]}); see its error above"
                    ) from None
                continue
            seconds[name] = duration
            progress.update()
    for process in shards:
        process.join()
    durations = [seconds[(spec.split, spec.file_name)] for spec in specs]

    summary: dict[str, object] = {"sample_rate": sample_rate, "splits": {}}
    for split in sorted({s.split for s in specs}):
        rows = sorted(
            (spec.file_name, spec.columns, seconds)
            for spec, seconds in zip(specs, durations, strict=True)
            if spec.split == split
        )
        columns = sorted({key for _, cols, _ in rows for key in cols})
        with open(tmp_dir / split / "metadata.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["file_name", *columns])
            writer.writerows([name, *(cols.get(c, "") for c in columns)] for name, cols, _ in rows)
        summary["splits"][split] = {  # type: ignore[index]
            "utterances": len(rows),
            "hours": round(sum(seconds for _, _, seconds in rows) / 3600, 4),
        }
    summary["hours"] = round(sum(durations) / 3600, 4)
    summary["generation_seconds"] = round(time.perf_counter() - start, 2)
    summary.update(extra_summary or {})
    # The marker must not change the corpus bytes between runs: timings are reported, not stored.
    marker = {k: v for k, v in summary.items() if k != "generation_seconds"}
    (tmp_dir / COMPLETE_MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True))
    if out_dir.exists() and not is_complete(out_dir):  # leftover of an interrupted older layout
        shutil.rmtree(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp_dir, out_dir)
    except OSError:  # another process finished the same corpus first
        shutil.rmtree(tmp_dir, ignore_errors=True)
        if not is_complete(out_dir):
            raise
    return summary
