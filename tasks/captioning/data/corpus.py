"""The embedded ``captioning_shapes`` corpus: rendered scenes with 5 captions each.

Layout written under ``root`` (the ``imagefolder`` layout of ``datasets``)::

    root/corpus.json                 generation settings; a mismatch triggers regeneration
    root/<split>/00000.png ...       split in {train, validation, test, test_novel}
    root/<split>/metadata.jsonl      {"file_name", "captions": [5 strings], "scene": json}

``test_novel`` scenes always contain one of the held-out (colour, shape) pairs, which never
appear in train/validation/test, to measure compositional generalisation.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from tasks.captioning.data.captions import sample_captions
from tasks.captioning.data.renderer import render_scene
from tasks.captioning.data.scene import COLOURS, SHAPES, Scene, sample_scene

SPLITS: tuple[str, ...] = ("train", "validation", "test", "test_novel")


@dataclass
class ShapesCorpusConfig:
    """Settings of the rendered corpus (``conf/data/captioning_shapes.yaml``)."""

    seed: int = 0
    image_size: int = 64
    max_objects: int = 4
    captions_per_image: int = 5
    split_sizes: Mapping[str, int] = field(
        default_factory=lambda: {"train": 6000, "validation": 300, "test": 500, "test_novel": 500}
    )
    held_out: Sequence[Sequence[str]] = (
        ("red", "triangle"),
        ("blue", "square"),
        ("green", "circle"),
        ("yellow", "cross"),
        ("purple", "diamond"),
    )

    def to_dict(self) -> dict:
        return {
            "seed": self.seed,
            "image_size": self.image_size,
            "max_objects": self.max_objects,
            "captions_per_image": self.captions_per_image,
            "split_sizes": dict(self.split_sizes),
            "held_out": [list(p) for p in self.held_out],
        }


def _combos(config: ShapesCorpusConfig) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(seen, held-out) (colour, shape) pairs; validates the held-out list."""
    held = [(str(c), str(s)) for c, s in config.held_out]
    for colour, shape in held:
        if colour not in COLOURS or shape not in SHAPES:
            raise ValueError(
                f"held_out pair ({colour}, {shape}) is not a known colour/shape; "
                f"colours {list(COLOURS)}, shapes {list(SHAPES)}"
            )
    seen = [(c, s) for c in COLOURS for s in SHAPES if (c, s) not in held]
    return seen, held


def make_example(config: ShapesCorpusConfig, split: str, index: int) -> tuple[Scene, list[str]]:
    """The scene and captions of image ``index`` of ``split``; a pure function of its arguments."""
    rng = random.Random(f"{config.seed}/{split}/{index}")
    seen, held = _combos(config)
    must_include = held if split == "test_novel" else None
    scene = sample_scene(rng, seen, config.max_objects, must_include=must_include)
    return scene, sample_captions(scene, rng, config.captions_per_image)


def corpus_is_current(root: Path, config: ShapesCorpusConfig) -> bool:
    stamp = root / "corpus.json"
    return stamp.is_file() and json.loads(stamp.read_text()) == config.to_dict()


def generate_corpus(root: str | Path, config: ShapesCorpusConfig, progress: bool = True) -> Path:
    """Render the corpus into ``root`` unless an identical one is already there (cached)."""
    root = Path(root)
    if corpus_is_current(root, config):
        return root
    unknown = set(config.split_sizes) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split(s) {sorted(unknown)} in split_sizes; use {list(SPLITS)}")
    if root.exists():
        shutil.rmtree(root)
    total = sum(config.split_sizes.values())
    with tqdm(
        total=total, desc=f"rendering captioning_shapes -> {root}", disable=not progress
    ) as bar:
        for split, size in config.split_sizes.items():
            split_dir = root / split
            split_dir.mkdir(parents=True)
            with open(split_dir / "metadata.jsonl", "w") as meta:
                for index in range(size):
                    scene, captions = make_example(config, split, index)
                    file_name = f"{index:05d}.png"
                    render_scene(scene, config.image_size).save(split_dir / file_name)
                    record = {"file_name": file_name, "captions": captions}
                    record["scene"] = json.dumps(scene.to_dict())
                    meta.write(json.dumps(record) + "\n")
                    bar.update()
    # The stamp is written last, so an interrupted run is regenerated next time.
    (root / "corpus.json").write_text(json.dumps(config.to_dict(), indent=1))
    return root
