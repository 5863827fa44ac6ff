"""Bad and odd images: converted to RGB, or a clear error naming the file; training skips them."""

from __future__ import annotations

import io

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

from tasks.captioning.data.datamodule import CaptionDataset, collate_captions
from tasks.captioning.data.images import ImageLoadError, image_to_tensor, load_image
from tasks.captioning.tokenization import build_vocabulary


def _png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    "image",
    [
        Image.new("L", (20, 10), 128),
        Image.new("LA", (20, 10), (128, 200)),
        Image.new("RGBA", (20, 10), (255, 0, 0, 0)),
        Image.new("P", (20, 10), 3),
        Image.new("CMYK", (20, 10), (0, 255, 0, 0)),
        Image.fromarray(np.full((10, 20), 65535, dtype=np.uint16)),
        Image.new("1", (20, 10), 1),
    ],
    ids=["L", "LA", "RGBA", "P", "CMYK", "I;16", "1"],
)
def test_odd_modes_become_rgb(image: Image.Image, tmp_path) -> None:
    path = tmp_path / "odd.png" if image.mode != "CMYK" else tmp_path / "odd.jpg"
    image.save(path)
    out = load_image(path)
    assert out.mode == "RGB" and out.size == (20, 10)
    tensor = image_to_tensor(out, 16)
    assert tensor.shape == (3, 16, 16) and tensor.min() >= 0.0 and tensor.max() <= 1.0


def test_sixteen_bit_is_rescaled_not_clipped(tmp_path) -> None:
    ramp = np.tile(np.linspace(0, 65535, 32).astype(np.uint16), (4, 1))
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    pixels = np.asarray(load_image(tmp_path / "deep.png"))[0, :, 0]
    assert pixels[0] == 0 and pixels[-1] == 255 and 100 < pixels[16] < 160


def test_transparent_pixels_composite_on_white(tmp_path) -> None:
    Image.new("RGBA", (4, 4), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    assert np.asarray(load_image(tmp_path / "clear.png"))[0, 0].tolist() == [255, 255, 255]


def test_huge_image_is_downscaled(tmp_path) -> None:
    Image.new("RGB", (3000, 1500), (0, 0, 255)).save(tmp_path / "huge.jpg", quality=50)
    out = load_image(tmp_path / "huge.jpg", max_side=512)
    assert max(out.size) <= 512 and out.mode == "RGB"


def test_corrupt_truncated_and_missing_files_name_the_file(tmp_path) -> None:
    (tmp_path / "corrupt.png").write_bytes(b"definitely not an image")
    good = _png_bytes(
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    )
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    for name in ("corrupt.png", "truncated.png", "missing.png"):
        with pytest.raises(ImageLoadError, match=name):
            load_image(tmp_path / name)


def test_training_dataset_skips_and_counts_bad_images(tmp_path) -> None:
    Image.new("RGB", (8, 8), (0, 200, 0)).save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    table = datasets.Dataset.from_dict(
        {
            "image": [str(tmp_path / "ok.png"), str(tmp_path / "bad.png")],
            "captions": [["a green square"], ["a red circle"]],
        }
    ).cast_column("image", datasets.Image(decode=False))
    vocab = build_vocabulary(["a green square", "a red circle"])
    dataset = CaptionDataset(table, vocab, image_size=16, max_caption_length=10, pairs=True)
    with pytest.warns(UserWarning, match="bad.png"):
        items = [dataset[i] for i in range(len(dataset))]
    batch = collate_captions(items)
    assert batch["skipped"] == 1
    assert batch["images"].shape == (1, 3, 16, 16)
    assert batch["names"] == [str(tmp_path / "ok.png")]
    assert batch["tokens"].dtype == torch.long


def test_image_cache_decodes_each_image_once_and_still_skips_bad_ones(tmp_path) -> None:
    Image.new("RGB", (8, 8), (0, 200, 0)).save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    table = datasets.Dataset.from_dict(
        {
            "image": [str(tmp_path / "ok.png"), str(tmp_path / "bad.png")],
            "captions": [["a green square", "one green square"], ["a red circle"]],
        }
    ).cast_column("image", datasets.Image(decode=False))
    vocab = build_vocabulary(["a green square", "one green square", "a red circle"])
    options = {"image_size": 16, "max_caption_length": 10, "pairs": True}
    plain = CaptionDataset(table, vocab, **options)
    cached = CaptionDataset(table, vocab, **options, cache_images=True)
    with pytest.warns(UserWarning, match="bad.png"):
        expected = [plain[i] for i in range(len(plain))]
        first = [cached[i] for i in range(len(cached))]
    # both captions of ok.png come from one decoded copy, kept as uint8 pixels
    assert list(cached.cache) == [0] and cached.cache[0].dtype == torch.uint8
    Image.new("RGB", (8, 8), (255, 255, 255)).save(tmp_path / "ok.png")
    with pytest.warns(UserWarning, match="bad.png"):
        second = [cached[i] for i in range(len(cached))]
    for want, got_first, got_second in zip(expected, first, second, strict=True):
        if want is None:
            assert got_first is None and got_second is None
        else:
            assert torch.equal(got_first["image"], want["image"])
            assert torch.equal(got_second["image"], want["image"])
            assert got_second["tokens"] == want["tokens"]
