"""Image decoding that turns any readable picture into RGB and any unreadable one into a clear error.

Handled: grayscale (L, LA, 1), palette (P), RGBA (composited on white), CMYK, 16/32-bit integer
and float images (rescaled to 8 bit), EXIF rotation, and huge images (downscaled while
decoding). Missing, corrupt or truncated files raise :class:`ImageLoadError` naming the file.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError


class ImageLoadError(ValueError):
    """An image that cannot be decoded; the message names the file and the reason."""


def _to_eight_bit(image: Image.Image) -> Image.Image:
    """Rescale a 16/32-bit or float single-channel image to 8-bit grayscale by its value range."""
    values = np.asarray(image, dtype=np.float64)
    top = 65535.0 if image.mode.startswith("I") and values.max(initial=0) > 255 else 255.0
    if image.mode == "F":
        top = max(float(values.max(initial=0)), 1e-12) if values.max(initial=0) > 1 else 1.0
    return Image.fromarray(np.clip(values / top * 255.0, 0, 255).astype(np.uint8), "L")


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB (alpha composited over white)."""
    if image.mode.startswith("I") or image.mode == "F":
        image = _to_eight_bit(image)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def load_image(
    source: str | Path | bytes, name: str | None = None, max_side: int = 1024
) -> Image.Image:
    """Decode ``source`` (a path or encoded bytes) to an RGB image no larger than ``max_side``.

    Args:
        source: file path or the encoded file's bytes.
        name: how to name the image in errors (defaults to the path).
        max_side: larger images are shrunk while decoding (JPEG draft mode) and after it.

    Raises:
        ImageLoadError: missing, unreadable, corrupt or truncated image.
    """
    label = name or (str(source) if not isinstance(source, bytes) else "<bytes>")
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
    except OSError as err:
        raise ImageLoadError(f"cannot open image {label}: {err.strerror or err}") from None
    with handle:
        try:
            image = Image.open(handle)
            image.draft("RGB", (max_side, max_side))
            image.load()
        except UnidentifiedImageError:
            raise ImageLoadError(
                f"{label} is not a readable image (corrupt file or unsupported format)"
            ) from None
        except Image.DecompressionBombError as err:
            raise ImageLoadError(f"{label} is too large to decode safely: {err}") from None
        except (OSError, SyntaxError, ValueError) as err:
            raise ImageLoadError(
                f"{label} is corrupt or truncated ({err}); re-export the file"
            ) from None
    image = to_rgb(ImageOps.exif_transpose(image))
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return image


def image_to_pixels(image: Image.Image, image_size: int) -> torch.Tensor:
    """(3, image_size, image_size) uint8 tensor: the resized RGB pixels."""
    if image.size != (image_size, image_size):
        image = image.resize((image_size, image_size), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def pixels_to_tensor(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 (3, H, W) -> float (3, H, W) in [0, 1] (normalisation belongs to the encoder)."""
    return pixels.float().div_(255.0)


def image_to_tensor(image: Image.Image, image_size: int) -> torch.Tensor:
    """(3, image_size, image_size) float tensor in [0, 1] (normalisation belongs to the encoder)."""
    return pixels_to_tensor(image_to_pixels(image, image_size))
