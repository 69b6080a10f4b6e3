"""Image decoding, validation and resizing on the quirks real photo sets hold."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from pipeline.formats.images import ImageOptions, ImageRejected, process
from tests.fixtures.imagenet_upstream import SORTED, jpeg, picture, ugly_images

QUIRKS = ugly_images(random.Random(1))


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("key, source_format", [("cmyk", "JPEG"), ("png", "PNG"), ("gray", "JPEG")])
def test_quirks_become_rgb_jpegs(key, source_format):
    out = process(QUIRKS[key], ImageOptions(size=64))
    image = decoded(out.data)
    assert image.format == "JPEG" and image.mode == "RGB"
    assert min(image.size) == 64 == min(out.width, out.height)
    assert out.original_format == source_format


def test_truncated_and_garbage_are_rejected_with_reasons():
    with pytest.raises(ImageRejected) as err:
        process(QUIRKS["truncated"])
    assert err.value.reason == "truncated"
    with pytest.raises(ImageRejected) as err:
        process(b"definitely not an image")
    assert err.value.reason == "not_an_image"
    with pytest.raises(ImageRejected) as err:
        process(b"")
    assert err.value.reason == "empty"


def test_pixel_limit_refuses_decompression_bombs():
    data = jpeg(Image.new("RGB", (400, 300)))
    with pytest.raises(ImageRejected) as err:
        process(data, ImageOptions(max_pixels=100_000))
    assert err.value.reason == "decompression_bomb"


def test_shorter_side_and_aspect_ratio():
    data = jpeg(Image.new("RGB", (1000, 400), (10, 200, 30)))
    out = process(data, ImageOptions(size=100))
    assert (out.width, out.height) == (250, 100) and (out.original_width, out.original_height) == (1000, 400)
    assert decoded(out.data).getpixel((125, 50))[1] > 150, "colours survive the draft decode and resize"


def test_size_zero_keeps_original_rgb_jpeg_bytes():
    data = jpeg(picture(SORTED[2], random.Random(2)))
    assert process(data, ImageOptions(size=0)).data == data
    converted = process(QUIRKS["cmyk"], ImageOptions(size=0))
    assert decoded(converted.data).mode == "RGB" and converted.data != QUIRKS["cmyk"]
