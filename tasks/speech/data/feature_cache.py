"""On-disk cache of the speech split indices with their log-mel features.

One file per data identity and feature options: ``<cache_dir>/speech-<key>.pt``, where the
key is the first 16 hex digits of the SHA-1 of those options as sorted JSON, so any option
that changes the features or the kept utterances selects another file. The payload is plain
containers and tensors (it loads with ``weights_only=True``)::

    {split: {"ids", "transcripts", "lengths", "features", "extra", "skipped", "examples",
             "cmvn"}}
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from tasks.speech.data.index import SplitIndex

CACHE_VERSION = 1
"""Raised when the payload or the meaning of a key changes, so old files are not read."""


def cache_file(
    cache_dir: str | Path,
    identity: Any,
    features: Mapping[str, Any],
    text_normalizer: str,
    min_duration: float,
    max_duration: float,
) -> Path:
    """The cache file of the data ``identity`` (``SpeechSource.identity()``) indexed with
    these ``LogMel`` options, transcript normaliser and duration bounds (seconds)."""
    key = {
        "identity": identity,
        "features": features,
        "text_normalizer": text_normalizer,
        "duration": [min_duration, max_duration],
        "version": CACHE_VERSION,
    }
    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    return Path(cache_dir) / f"speech-{digest[:16]}.pt"


def write_cache(path: Path, indices: Mapping[str, SplitIndex]) -> None:
    """Save ``indices`` to ``path`` atomically: concurrent runs never read a half-written file."""
    payload = {
        split: {
            "ids": index.ids,
            "transcripts": index.transcripts,
            "lengths": index.lengths,
            "features": index.features,
            "extra": index.extra,
            "skipped": dict(index.skipped),
            "examples": index.examples,
            "cmvn": list(index.cmvn) if index.cmvn is not None else None,
        }
        for split, index in indices.items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def read_cache(path: Path) -> dict[str, SplitIndex]:
    """The indices saved by :func:`write_cache`."""
    payload = torch.load(path, weights_only=True)
    return {
        split: SplitIndex(
            ids=data["ids"],
            transcripts=data["transcripts"],
            lengths=data["lengths"],
            features=data["features"],
            extra=data["extra"],
            skipped=Counter(data["skipped"]),
            examples=data["examples"],
            cmvn=tuple(data["cmvn"]) if data["cmvn"] is not None else None,
        )
        for split, data in payload.items()
    }
