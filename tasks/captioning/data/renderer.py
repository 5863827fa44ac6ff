"""Draw a :class:`~tasks.captioning.data.scene.Scene` into an RGB image (numpy background + PIL shapes).

Drawing happens at ``supersample`` times the output size and is box-filtered down, which gives
anti-aliased edges; the scene's own seed drives background texture, colour jitter and pixel
noise, so the same scene always renders to the same pixels.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from tasks.captioning.data.scene import COLOURS, SIZES, Scene


def _background(scene: Scene, side: int, rng: np.random.Generator) -> np.ndarray:
    """(side, side, 3) float background: low-saturation textures that never look like objects."""
    tone = float(scene.background_tone)
    tint = rng.uniform(-12, 12, size=3)
    yy, xx = np.mgrid[0:side, 0:side] / side
    if scene.background == "plain":
        grey = np.full((side, side), tone)
    elif scene.background == "gradient":
        angle = rng.uniform(0, 2 * math.pi)
        grey = tone + 50 * ((xx * math.cos(angle) + yy * math.sin(angle)) - 0.5)
    elif scene.background == "stripes":
        period = rng.uniform(0.08, 0.2)
        grey = tone + 18 * np.sign(
            np.sin(2 * math.pi * (xx if rng.random() < 0.5 else yy) / period)
        )
    elif scene.background == "checker":
        cells = rng.integers(4, 9)
        grey = tone + 16 * (((xx * cells).astype(int) + (yy * cells).astype(int)) % 2 * 2 - 1)
    else:  # "noise": smooth blotches from an upsampled random field
        coarse = rng.normal(0, 22, size=(6, 6))
        grey = tone + np.kron(coarse, np.ones((side // 6 + 1, side // 6 + 1)))[:side, :side]
    return np.clip(grey[..., None] + tint, 0, 255)


def _shape_points(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]] | None:
    """Polygon vertices of ``shape`` centred at (cx, cy) with circumradius ``r`` (None: circle)."""
    if shape == "circle":
        return None
    if shape == "square":
        s = r * 0.8
        return [(cx - s, cy - s), (cx + s, cy - s), (cx + s, cy + s), (cx - s, cy + s)]
    if shape == "triangle":
        return [
            (cx + r * math.cos(a), cy + r * math.sin(a))
            for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)
        ]
    if shape == "diamond":
        return [(cx, cy - r), (cx + r * 0.75, cy), (cx, cy + r), (cx - r * 0.75, cy)]
    if shape == "cross":
        a, b = r, r * 0.36
        return [
            (cx - b, cy - a), (cx + b, cy - a), (cx + b, cy - b), (cx + a, cy - b),
            (cx + a, cy + b), (cx + b, cy + b), (cx + b, cy + a), (cx - b, cy + a),
            (cx - b, cy + b), (cx - a, cy + b), (cx - a, cy - b), (cx - b, cy - b),
        ]  # fmt: skip
    raise ValueError(f"unknown shape {shape!r}")


def render_scene(scene: Scene, image_size: int = 64, supersample: int = 3) -> Image.Image:
    """Render ``scene`` to an ``image_size`` x ``image_size`` RGB image."""
    rng = np.random.default_rng(scene.background_seed)
    big = image_size * supersample
    canvas = Image.fromarray(_background(scene, big, rng).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(canvas)
    for group in scene.groups:
        r = SIZES[group.size] * big / 2
        for cx, cy in group.centres:
            colour = tuple(
                int(np.clip(c + rng.integers(-18, 19), 0, 255)) for c in COLOURS[group.colour]
            )
            points = _shape_points(group.shape, cx * big, cy * big, r)
            if points is None:
                draw.ellipse([cx * big - r, cy * big - r, cx * big + r, cy * big + r], fill=colour)
            else:
                draw.polygon(points, fill=colour)
    small = np.asarray(
        canvas.resize((image_size, image_size), Image.Resampling.BOX), dtype=np.float32
    )
    noisy = small + rng.normal(0.0, scene.noise_std, size=small.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")
