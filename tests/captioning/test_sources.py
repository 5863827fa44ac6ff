"""Real-dataset code paths on small local folders in the published layouts."""

from __future__ import annotations

import io
import json
from pathlib import Path

import datasets
import pytest
from PIL import Image

from tasks.captioning.data.sources import CocoJsonSource, HubSource, ImageFolderSource

COLOURS = [(200, 0, 0), (0, 200, 0), (0, 0, 200)]


def _png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (12, 12), colour).save(buf, format="PNG")
    return buf.getvalue()


def _write_parquet(folder: Path, split: str, columns: dict) -> None:
    (folder / "data").mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(columns).to_parquet(
        str(folder / "data" / f"{split}-00000-of-00001.parquet")
    )


def test_flickr8k_layout_embedded_images_and_caption_columns(tmp_path) -> None:
    """jxie/flickr8k: an ``image`` column with encoded bytes and ``caption_0..caption_4``."""
    for split in ("train", "validation", "test"):
        _write_parquet(
            tmp_path,
            split,
            {
                "image": [{"bytes": _png(c), "path": None} for c in COLOURS],
                **{
                    f"caption_{k}": [f"caption {k} of image {i}" for i in range(3)]
                    for k in range(5)
                },
            },
        )
    source = HubSource(
        path=str(tmp_path),
        split_map={"train": "train", "validation": "validation", "test": "test"},
        caption_columns=[f"caption_{k}" for k in range(5)],
    )
    source.prepare()
    splits = source.load()
    assert set(splits) == {"train", "validation", "test"}
    row = splits["test"][1]
    assert row["captions"] == [f"caption {k} of image 1" for k in range(5)]
    assert row["image"]["bytes"] == _png(COLOURS[1])


def test_coco_karpathy_layout_images_from_local_root(tmp_path) -> None:
    """yerevann/coco-karpathy: no pixels; ``filepath``/``filename`` under a local COCO folder."""
    image_root = tmp_path / "coco"
    (image_root / "val2014").mkdir(parents=True)
    names = [f"COCO_val2014_{i:012d}.jpg" for i in range(3)]
    for name, colour in zip(names, COLOURS, strict=True):
        Image.new("RGB", (12, 12), colour).save(image_root / "val2014" / name)
    _write_parquet(
        tmp_path / "hub",
        "test",
        {
            "filepath": ["val2014"] * 3,
            "filename": names,
            "sentences": [[f"a photo {i}", f"another photo {i}"] for i in range(3)],
            "cocoid": [0, 1, 2],
        },
    )
    source = HubSource(
        path=str(tmp_path / "hub"),
        split_map={"test": "test"},
        caption_columns=["sentences"],
        image_column=None,
        image_root=str(image_root),
        path_columns=["filepath", "filename"],
    )
    source.prepare()
    test = source.load()["test"]
    assert test[2]["captions"] == ["a photo 2", "another photo 2"]
    assert test[2]["image"]["path"] == str(image_root / "val2014" / names[2])


def test_hub_source_missing_image_root_is_a_clear_error(tmp_path) -> None:
    source = HubSource(
        "x/y", {"test": "test"}, ["sentences"], None, str(tmp_path / "nope"), ["filename"]
    )
    with pytest.raises(FileNotFoundError, match="image_root"):
        source.prepare()


def test_coco_json_folder(tmp_path) -> None:
    (tmp_path / "images").mkdir()
    coco = {"images": [], "annotations": []}
    for i, colour in enumerate(COLOURS):
        Image.new("RGB", (12, 12), colour).save(tmp_path / "images" / f"{i}.jpg")
        coco["images"].append({"id": 10 + i, "file_name": f"{i}.jpg"})
        coco["annotations"] += [
            {"id": 2 * i + k, "image_id": 10 + i, "caption": f"Image {i}, caption {k}."}
            for k in range(2)
        ]
    coco["images"].append({"id": 99, "file_name": "uncaptioned.jpg"})  # no captions: dropped
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "test.json").write_text(json.dumps(coco))
    source = CocoJsonSource(
        str(tmp_path), annotations={"test": "annotations/test.json"}, image_dirs={"test": "images"}
    )
    source.prepare()
    test = source.load()["test"]
    assert len(test) == 3
    assert test[0]["captions"] == ["Image 0, caption 0.", "Image 0, caption 1."]
    assert test[0]["image"]["path"] == str(tmp_path / "images" / "0.jpg")


def test_coco_json_wrong_format_names_the_file(tmp_path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"images": [{"file_name": "x.jpg"}]}))
    source = CocoJsonSource(str(tmp_path), annotations={"test": "bad.json"}, image_dirs={})
    with pytest.raises(ValueError, match=r"bad\.json is not a COCO captions file"):
        source.load()


def test_image_folder_with_custom_caption_field(tmp_path) -> None:
    (tmp_path / "train").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "train" / "a.png")
    (tmp_path / "train" / "metadata.jsonl").write_text(
        json.dumps({"file_name": "a.png", "texts": ["x y"]}) + "\n"
    )
    splits = ImageFolderSource(str(tmp_path), captions_column="texts").load()
    assert splits["train"][0]["captions"] == ["x y"]
    with pytest.raises(FileNotFoundError, match="no train/ or test/"):
        ImageFolderSource(str(tmp_path / "train")).load()
