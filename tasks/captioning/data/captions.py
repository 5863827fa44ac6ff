"""Reference captions for a :class:`~tasks.captioning.data.scene.Scene`.

Every caption is generated from the scene itself, so it only mentions objects that are in
the picture. Variety comes from lead-ins ("there are", "a picture of"), optional size words,
relation synonyms ("above" / "over"), and describing the groups in either order with the
inverse relation ("a circle below two squares" == "two squares above a circle").
"""

from __future__ import annotations

import itertools
import random

from tasks.captioning.data.scene import ObjectGroup, Scene

COUNT_WORDS: dict[int, str] = {2: "two", 3: "three"}
PLURALS: dict[str, str] = {"cross": "crosses"}
RELATION_SYNONYMS: dict[str, tuple[str, ...]] = {
    "above": ("above", "over"),
    "below": ("below", "under"),
    "left of": ("to the left of", "left of"),
    "right of": ("to the right of", "right of"),
}
INVERSE_RELATION: dict[str, str] = {
    "above": "below",
    "below": "above",
    "left of": "right of",
    "right of": "left of",
}
# (lead-in, weight): the plain form is the most common, as in human-written caption sets.
LEAD_INS: tuple[tuple[str, float], ...] = (("", 4.0), ("there {be}", 1.0), ("a picture of", 1.0))


def group_phrase(group: ObjectGroup, with_size: bool) -> str:
    """``"two small red triangles"``, ``"an orange circle"``."""
    words = ([group.size] if with_size else []) + [group.colour]
    noun = group.shape if group.count == 1 else PLURALS.get(group.shape, group.shape + "s")
    if group.count == 1:
        article = "an" if words[0][0] in "aeiou" else "a"
        return " ".join([article, *words, noun])
    return " ".join([COUNT_WORDS[group.count], *words, noun])


def caption_variants(scene: Scene) -> list[tuple[str, float]]:
    """All captions of ``scene`` with their sampling weights (plain forms weigh more)."""
    variants: dict[str, float] = {}
    orders = [(0, scene.relation)]
    if scene.relation is not None:
        orders.append((1, INVERSE_RELATION[scene.relation]))
    for (lead, lead_w), with_size, (first, relation) in itertools.product(
        LEAD_INS, (True, False), orders
    ):
        groups = scene.groups if first == 0 else scene.groups[::-1]
        phrases = [group_phrase(g, with_size) for g in groups]
        be = "is" if groups[0].count == 1 else "are"
        prefix = lead.format(be=be)
        weight = lead_w * (2.0 if with_size else 1.0) * (2.0 if first == 0 else 1.0)
        if relation is None:
            bodies = [(phrases[0], 1.0)]
        else:
            bodies = [
                (f"{phrases[0]} {syn} {phrases[1]}", 1.0) for syn in RELATION_SYNONYMS[relation]
            ]
            bodies[0] = (bodies[0][0], 2.0)
            bodies.append((f"{phrases[0]} and {phrases[1]}", 0.5))
        for body, body_w in bodies:
            text = f"{prefix} {body}".strip()
            variants[text] = variants.get(text, 0.0) + weight * body_w
    return sorted(variants.items())


def sample_captions(scene: Scene, rng: random.Random, k: int = 5) -> list[str]:
    """``k`` different captions drawn by weight without replacement (fewer if fewer exist)."""
    pool = caption_variants(scene)
    chosen: list[str] = []
    while pool and len(chosen) < k:
        total = sum(w for _, w in pool)
        x = rng.uniform(0.0, total)
        for i, (text, w) in enumerate(pool):
            x -= w
            if x <= 0 or i == len(pool) - 1:
                chosen.append(text)
                pool.pop(i)
                break
    return chosen
