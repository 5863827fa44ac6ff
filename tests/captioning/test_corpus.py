"""Embedded shapes corpus: determinism, caption/scene consistency, held-out pairs, caching."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tasks.captioning.data.captions import INVERSE_RELATION, PLURALS, caption_variants
from tasks.captioning.data.corpus import ShapesCorpusConfig, generate_corpus, make_example
from tasks.captioning.data.renderer import render_scene
from tasks.captioning.data.scene import COLOURS, SHAPES, SIZES
from tasks.captioning.data.sources import ShapesSource

SMALL = {"train": 12, "validation": 3, "test": 3, "test_novel": 4}
NUMBERS = {"a": 1, "an": 1, "two": 2, "three": 3}
_SHAPE_WORDS = {s: s for s in SHAPES} | {PLURALS.get(s, s + "s"): s for s in SHAPES}
MENTION = re.compile(
    rf"\b(a|an|two|three) (?:({'|'.join(SIZES)}) )?({'|'.join(COLOURS)}) ({'|'.join(_SHAPE_WORDS)})\b"
)
RELATION = re.compile(
    r"\b(above|over|below|under|to the left of|left of|to the right of|right of)\b"
)


def mentions(caption: str) -> list[tuple[int, str | None, str, str]]:
    return [
        (NUMBERS[n], size or None, colour, _SHAPE_WORDS[shape])
        for n, size, colour, shape in MENTION.findall(caption)
    ]


def test_rendering_is_deterministic_and_seed_dependent() -> None:
    config = ShapesCorpusConfig(seed=3)
    scene_a, captions_a = make_example(config, "train", 7)
    scene_b, captions_b = make_example(config, "train", 7)
    assert scene_a == scene_b and captions_a == captions_b
    assert np.array_equal(np.asarray(render_scene(scene_a)), np.asarray(render_scene(scene_b)))
    other, _ = make_example(ShapesCorpusConfig(seed=4), "train", 7)
    assert other != scene_a
    assert not np.array_equal(np.asarray(render_scene(other)), np.asarray(render_scene(scene_a)))


def test_every_caption_describes_objects_that_are_in_the_scene() -> None:
    config = ShapesCorpusConfig(seed=0)
    for split in ("train", "test_novel"):
        for index in range(150):
            scene, captions = make_example(config, split, index)
            assert len(set(captions)) == 5
            groups = {(g.colour, g.shape): g for g in scene.groups}
            for caption in captions:
                found = mentions(caption)
                # every group is mentioned once, and every mention is a group of the scene
                assert sorted((c, s) for _, _, c, s in found) == sorted(groups), caption
                for count, size, colour, shape in found:
                    group = groups[(colour, shape)]
                    assert count == group.count, caption
                    assert size in (None, group.size), caption
                relation = RELATION.search(caption)
                if relation is not None:
                    said = relation.group(1).replace("to the ", "")
                    said = {"over": "above", "under": "below"}.get(said, said)
                    first_is_group0 = found[0][2:] == (
                        scene.groups[0].colour,
                        scene.groups[0].shape,
                    )
                    true = scene.relation if first_is_group0 else INVERSE_RELATION[scene.relation]
                    assert said == true, caption


def test_relation_is_true_in_the_geometry() -> None:
    config = ShapesCorpusConfig(seed=1)
    checked = 0
    for index in range(100):
        scene, _ = make_example(config, "train", index)
        if scene.relation is None:
            assert len(scene.groups) == 1
            continue
        (ax, ay), (bx, by) = (np.mean(g.centres, axis=0) for g in scene.groups)
        expected = {"above": ay < by, "below": ay > by, "left of": ax < bx, "right of": ax > bx}
        assert expected[scene.relation]
        assert 1 <= scene.num_objects <= 4
        checked += 1
    assert checked > 30


def test_held_out_pairs_only_in_test_novel() -> None:
    config = ShapesCorpusConfig(seed=0)
    held = {tuple(p) for p in config.held_out}
    for split in ("train", "validation", "test"):
        for index in range(200):
            scene, _ = make_example(config, split, index)
            assert not {(g.colour, g.shape) for g in scene.groups} & held
    for index in range(50):
        scene, _ = make_example(config, "test_novel", index)
        assert (scene.groups[0].colour, scene.groups[0].shape) in held


def test_caption_variants_are_distinct_and_weighted() -> None:
    scene, _ = make_example(ShapesCorpusConfig(), "train", 0)
    variants = caption_variants(scene)
    assert len({t for t, _ in variants}) == len(variants) >= 5
    assert all(w > 0 for _, w in variants)


def test_generate_writes_imagefolder_layout_and_is_cached(tmp_path) -> None:
    root = tmp_path / "shapes"
    source = ShapesSource(str(root), seed=5, split_sizes=SMALL, image_size=32)
    source.prepare()
    stamp = (root / "corpus.json").stat().st_mtime_ns
    first = (root / "train" / "00000.png").read_bytes()
    source.prepare()  # cached: nothing rewritten
    assert (root / "corpus.json").stat().st_mtime_ns == stamp
    rows = [
        json.loads(line)
        for line in (root / "test_novel" / "metadata.jsonl").read_text().splitlines()
    ]
    assert len(rows) == SMALL["test_novel"] and all(len(r["captions"]) == 5 for r in rows)
    splits = source.load()
    assert {k: len(v) for k, v in splits.items()} == SMALL
    assert splits["train"].column_names == ["image", "captions"]
    # a changed setting regenerates, the same setting reproduces the same bytes
    generate_corpus(
        root, ShapesCorpusConfig(seed=6, split_sizes=SMALL, image_size=32), progress=False
    )
    assert (root / "train" / "00000.png").read_bytes() != first
    generate_corpus(
        root, ShapesCorpusConfig(seed=5, split_sizes=SMALL, image_size=32), progress=False
    )
    assert (root / "train" / "00000.png").read_bytes() == first


def test_unknown_held_out_pair_is_rejected() -> None:
    with pytest.raises(ValueError, match="not a known colour/shape"):
        make_example(ShapesCorpusConfig(held_out=[("pink", "circle")]), "train", 0)
