"""``scripts/predict.py``: a checkpoint + one input item -> JSONL records."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import IO

import torch
from omegaconf import DictConfig
from tqdm import tqdm

from tasks.harness.checkpoint import find_checkpoint, load_module
from tasks.harness.errors import InputError
from tasks.harness.gate_plots import GateFigureWriter
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


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def write_records(
    module: TaskModule,
    items: list[str],
    options: dict,
    batch_size: int,
    out: IO[str],
    extras: Callable[[dict], dict] | None = None,
) -> int:
    """Run ``module.predict_items`` over ``items`` in chunks; one JSON line per record.

    ``extras(record)``, when given, adds fields to each record (e.g. the gate figure's path).
    """
    count = 0
    progress = tqdm(
        total=len(items), desc="predict", unit="item", file=sys.stderr, disable=len(items) < 2
    )
    with torch.inference_mode(), progress:
        for chunk in chunks(items, batch_size):
            try:
                for record in module.predict_items(chunk, options):
                    if extras is not None:
                        record = {**record, **extras(record)}
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                    count += 1
            except ValueError as error:  # the task's "unusable input" signal
                raise InputError(str(error)) from error
            progress.update(len(chunk))
    return count


def predict(cfg: DictConfig) -> int:
    """Predict ``cfg.input`` / ``cfg.text`` with ``cfg.ckpt``; returns the number of records."""
    if cfg.ckpt is None:
        raise InputError("pass ckpt=<checkpoint file, run directory or 'last'>")
    module = load_module(find_checkpoint(cfg.ckpt, cfg.paths.runs_dir)).to(cfg.device)
    items = expand_inputs(cfg.input, cfg.text, module.input_kind, module.input_extensions)
    options = to_plain(cfg.options, "options")
    output = Path(cfg.output) if cfg.output else None
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
    gates = None
    if cfg.gates:
        gates = GateFigureWriter(module, Path(cfg.gates_dir), cfg.gates_layer, cfg.gates_units)
    with open(output, "w", encoding="utf-8") if output else nullcontext(sys.stdout) as out:
        return write_records(module, items, options, cfg.batch_size, out, gates)
