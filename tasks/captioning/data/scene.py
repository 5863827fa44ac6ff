"""Scenes of the embedded shapes corpus: what is in a picture, before it is drawn or described.

A scene holds one or two *groups*; a group is ``count`` identical objects (same shape, colour
and size). Two groups are placed in opposite halves of the picture (top/bottom or left/right),
so a spatial relation ("above", "to the left of") between them is always true.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "cross")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (35, 70, 230),
    "yellow": (240, 220, 20),
    "purple": (150, 40, 190),
    "orange": (250, 130, 0),
}
SIZES: dict[str, float] = {"small": 0.14, "large": 0.26}  # object diameter / image side
RELATIONS: tuple[str, ...] = ("above", "below", "left of", "right of")
BACKGROUNDS: tuple[str, ...] = ("plain", "gradient", "stripes", "checker", "noise")


@dataclass(frozen=True)
class ObjectGroup:
    """``count`` objects sharing shape, colour and size, with their centres in [0, 1]^2."""

    shape: str
    colour: str
    size: str
    count: int
    centres: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Scene:
    """A picture's content: groups (1 or 2), the relation of group 0 to group 1, background.

    ``relation`` reads "group 0 is <relation> group 1" and is ``None`` for a single group.
    """

    groups: tuple[ObjectGroup, ...]
    relation: str | None
    background: str
    background_tone: int
    background_seed: int
    noise_std: float

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def num_objects(self) -> int:
        return sum(g.count for g in self.groups)


def _place(
    rng: random.Random, count: int, diameter: float, region: tuple[float, float, float, float]
) -> tuple[tuple[float, float], ...]:
    """Rejection-sample ``count`` non-overlapping centres inside ``region`` = (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = region
    r = diameter / 2
    for _ in range(200):
        centres = []
        for _ in range(count):
            for _ in range(50):
                c = (rng.uniform(x0 + r, x1 - r), rng.uniform(y0 + r, y1 - r))
                if all(
                    (c[0] - o[0]) ** 2 + (c[1] - o[1]) ** 2 > (1.1 * diameter) ** 2 for o in centres
                ):
                    centres.append(c)
                    break
        if len(centres) == count:
            return tuple(centres)
    raise RuntimeError(f"cannot place {count} objects of diameter {diameter} in {region}")


def sample_scene(
    rng: random.Random,
    combos: list[tuple[str, str]],
    max_objects: int = 4,
    must_include: list[tuple[str, str]] | None = None,
) -> Scene:
    """Draw a random scene whose (colour, shape) pairs come from ``combos``.

    Args:
        rng: the only source of randomness, so a seed fixes the scene.
        combos: allowed (colour, shape) pairs (the held-out pairs are removed for training).
        max_objects: at most this many objects in total (1-4 in the default corpus).
        must_include: if given, group 0 uses one of these pairs (used for the novel split).
    """
    n_groups = 1 if max_objects == 1 or rng.random() < 0.35 else 2
    first_combo = rng.choice(must_include) if must_include else rng.choice(combos)
    picked = [first_combo]
    if n_groups == 2:
        picked.append(rng.choice([c for c in combos if c != first_combo]))
    sizes = [rng.choice(list(SIZES)) for _ in picked]
    if n_groups == 1:
        counts = [rng.randint(1, min(3, max_objects))]
    else:
        counts = [rng.randint(1, min(3, max_objects - 1))]
        counts.append(rng.randint(1, min(3, max_objects - counts[0])))
    relation = rng.choice(RELATIONS) if n_groups == 2 else None
    regions = _regions(relation)
    groups = tuple(
        ObjectGroup(
            shape=shape,
            colour=colour,
            size=size,
            count=count,
            centres=_place(rng, count, SIZES[size], region),
        )
        for (colour, shape), size, count, region in zip(picked, sizes, counts, regions, strict=True)
    )
    return Scene(
        groups=groups,
        relation=relation,
        background=rng.choice(BACKGROUNDS),
        background_tone=rng.choice([rng.randint(20, 90), rng.randint(150, 235)]),
        background_seed=rng.randrange(2**31),
        noise_std=rng.uniform(0.0, 12.0),
    )


def _regions(relation: str | None) -> list[tuple[float, float, float, float]]:
    """Image regions (x0, y0, x1, y1) of group 0 and group 1 that make ``relation`` true."""
    top, bottom = (0.0, 0.0, 1.0, 0.5), (0.0, 0.5, 1.0, 1.0)
    left, right = (0.0, 0.0, 0.5, 1.0), (0.5, 0.0, 1.0, 1.0)
    return {
        None: [(0.0, 0.0, 1.0, 1.0)],
        "above": [top, bottom],
        "below": [bottom, top],
        "left of": [left, right],
        "right of": [right, left],
    }[relation]
