"""``scripts/predict.py``: a checkpoint + one input item -> JSONL records."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import IO

import torch
from omegaconf import DictConfig
from tqdm import tqdm

from tasks.batching import size_batches
from tasks.harness.checkpoint import find_checkpoint, load_module
from tasks.harness.errors import InputError
from tasks.harness.gate_plots import GateFigureWriter
from tasks.harness.host_memory import reuse_freed_host_memory
from tasks.harness.module import TaskModule
from tasks.harness.plain import to_plain


def read_text_lines(path: Path) -> list[str]:
    """Non-empty lines of a UTF-8 text file, stripped of the line break.

    Raises:
        InputError: naming the file and line number of invalid UTF-8.
    """
    texts = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as error:
                raise InputError(
                    f"{path}: line {number} is not valid UTF-8 ({error.reason})"
                ) from error
            if line.strip():
                texts.append(line)
    return texts


def expand_inputs(
    input_path: str | None, text: str | None, kind: str, extensions: Sequence[str] = ()
) -> list[str]:
    """The list of items for ``predict_items``.

    ``kind == "file"``: a file gives itself, a folder its files (recursively, sorted, filtered
    by ``extensions``). ``kind == "text"``: ``text`` gives one item; a file gives its lines; a
    folder gives the lines of each file. ``input_path == "-"`` reads one item per line from stdin.
    """
    if text is not None and input_path is not None:
        raise InputError("pass either input=<path> or text=<string>, not both")
    if text is not None:
        if kind != "text":
            raise InputError("text=... is only for text tasks: pass input=<file or folder>")
        return [text]
    if input_path is None:
        raise InputError(
            "nothing to predict: pass input=<file or folder>"
            + (" or text=..." if kind == "text" else "")
        )
    if input_path == "-":
        return [line.rstrip("\r\n") for line in sys.stdin if line.strip()]
    path = Path(input_path).expanduser()
    if not path.exists():
        raise InputError(f"input {path} does not exist")
    files = [path]
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and (not extensions or p.suffix.lower() in extensions)
        )
        if not files:
            wanted = f" with extension {', '.join(extensions)}" if extensions else ""
            raise InputError(f"input folder {path} holds no files{wanted}")
    if kind == "file":
        return [str(p) for p in files]
    return [line for p in files for line in read_text_lines(p)]


def error_record(item: str, error: Exception) -> dict[str, str]:
    """The record of an input that could not be used: ``{input, error, reason}``.

    ``reason`` is the error's own short cause where it has one (``missing``, ``empty``,
    ``corrupt``... of :class:`tasks.audio.io.AudioDecodeError`), else ``unreadable``.
    """
    return {
        "input": item,
        "error": str(error),
        "reason": str(getattr(error, "reason", "unreadable")),
    }


def input_sizes(items: list[str], kind: str) -> list[int]:
    """The size of each item that batching groups by: a text's length in characters, a
    file's size in bytes (which tracks an audio file's duration; 0 for a missing file)."""
    if kind != "file":
        return [len(item) for item in items]
    return [path.stat().st_size if path.is_file() else 0 for path in map(Path, items)]


def predict_chunk(module: TaskModule, chunk: list[str], options: dict) -> list[dict]:
    """``module.predict_items`` on ``chunk``; when it rejects the chunk (``ValueError``, the
    task's "unusable input" signal) each item runs alone, so one bad input costs one
    error record and its neighbours still get their predictions."""
    try:
        return list(module.predict_items(chunk, options))
    except ValueError:
        if len(chunk) == 1:
            raise
    records = []
    for item in chunk:
        try:
            records += module.predict_items([item], options)
        except ValueError as error:
            records.append(error_record(item, error))
    return records


def write_records(
    module: TaskModule,
    items: list[str],
    options: dict,
    batch_size: int,
    out: IO[str],
    extras: Callable[[dict], dict] | None = None,
    max_padded_size: int | None = None,
) -> tuple[int, list[dict]]:
    """Predict ``items`` in chunks of similar size (:func:`tasks.batching.size_batches`: at
    most ``batch_size`` items, ``items x largest size`` within ``max_padded_size``) and write
    one JSON line per record in input order; returns the number of records and the error
    records.

    ``extras(record)``, when given, adds fields to each predicted record (e.g. the gate
    figure's path).
    """
    sizes = input_sizes(items, module.input_kind)
    done: dict[int, dict] = {}
    written, errors = 0, []
    progress = tqdm(
        total=len(items), desc="predict", unit="item", file=sys.stderr, disable=len(items) < 2
    )
    with torch.inference_mode(), progress:
        for indices in size_batches(sizes, batch_size, max_padded_size):
            chunk = [items[i] for i in indices]
            try:
                records = predict_chunk(module, chunk, options)
            except ValueError as error:
                records = [error_record(chunk[0], error)]
            done.update(zip(indices, records, strict=True))
            while written in done:
                record = done.pop(written)
                if "error" in record:
                    errors.append(record)
                elif extras is not None:
                    record = {**record, **extras(record)}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                written += 1
            out.flush()
            progress.update(len(chunk))
    return written, errors


def predict(cfg: DictConfig) -> int:
    """Predict ``cfg.input`` / ``cfg.text`` with ``cfg.ckpt``; returns the number of records.

    Raises:
        InputError: after writing every record, when any input gave an error record (so the
            exit status says that inputs failed).
    """
    if cfg.ckpt is None:
        raise InputError("pass ckpt=<checkpoint file, run directory or 'last'>")
    reuse_freed_host_memory(cfg.host_memory_reuse_mb)
    module = load_module(find_checkpoint(cfg.ckpt, cfg.paths.runs_dir)).to(cfg.device)
    options = to_plain(cfg.options, "options")
    module.predict_options(options)  # unknown or mistyped options fail before any input
    items = expand_inputs(cfg.input, cfg.text, module.input_kind, module.input_extensions)
    output = Path(cfg.output) if cfg.output else None
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
    gates = None
    if cfg.gates:
        gates = GateFigureWriter(module, Path(cfg.gates_dir), cfg.gates_layer, cfg.gates_units)
    with open(output, "w", encoding="utf-8") if output else nullcontext(sys.stdout) as out:
        count, failed = write_records(
            module, items, options, cfg.batch_size, out, gates, cfg.max_padded_size
        )
    if failed:
        where = f" in {output}" if output else ""
        raise InputError(
            f"{failed[0]['error']} ({len(failed)} of {count} inputs could not be used; "
            f"see their error records{where}, the other {count - len(failed)} were predicted)"
        )
    return count
