"""Decode, validate, resize and re-encode one image; every failure is a named reason.

Handles what real photo collections contain: CMYK JPEGs, PNGs named ``.JPEG``,
grayscale and palette images, truncated files and decompression bombs. Large JPEGs are
decoded at a reduced scale (``draft``) when the target size allows it, which is most of
the speed of a decode-and-shrink pipeline.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

FORMATS = {"JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP"}


@dataclass(frozen=True)
class ImageOptions:
    size: int = 256  # shorter side after resizing; 0 keeps the original size
    quality: int = 90
    max_pixels: int = 100_000_000  # refuse images that would decode to more (decompression bombs)


@dataclass(frozen=True)
class Processed:
    data: bytes  # JPEG
    width: int
    height: int
    original_width: int
    original_height: int
    original_format: str


class ImageRejected(Exception):
    """The image cannot be used; ``reason`` is the rejects reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def process(data: bytes, options: ImageOptions = ImageOptions()) -> Processed:
    """Bytes of any supported image → an RGB JPEG whose shorter side is ``options.size``."""
    if not data:
        raise ImageRejected("empty", "zero bytes")
    image = _open(data, options)
    width, height = image.size
    keep_bytes = options.size == 0 and image.format == "JPEG" and image.mode == "RGB"
    if image.format == "JPEG" and options.size and min(width, height) > options.size:
        scale = options.size / min(width, height)
        image.draft("RGB", (max(1, int(width * scale + 0.999)), max(1, int(height * scale + 0.999))))
    try:
        image.load()
    except OSError as err:  # Pillow reports truncated and corrupt data as OSError
        reason = "truncated" if "truncated" in str(err).lower() else "corrupt"
        raise ImageRejected(reason, f"{image.format}: {err}") from err
    except (ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise ImageRejected("corrupt", f"{image.format}: {err}") from err
    if keep_bytes:
        return Processed(data, width, height, width, height, "JPEG")
    rgb = _to_rgb(image)
    if options.size and min(rgb.size) != options.size:
        rgb = rgb.resize(_target(rgb.size, options.size), Image.Resampling.BICUBIC, reducing_gap=3.0)
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=options.quality)
    return Processed(out.getvalue(), rgb.size[0], rgb.size[1], width, height, image.format or "")


def _open(data: bytes, options: ImageOptions) -> Image.Image:
    with warnings.catch_warnings():
        # Our own pixel limit below decides; Pillow still raises beyond twice its own.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (UnidentifiedImageError, Image.DecompressionBombError) as err:
            reason = "decompression_bomb" if "decompression bomb" in str(err).lower() else "not_an_image"
            raise ImageRejected(reason, str(err)) from err
        except (OSError, ValueError, SyntaxError) as err:
            raise ImageRejected("corrupt", str(err)) from err
    if image.format not in FORMATS:
        raise ImageRejected("unsupported_format", f"format {image.format}")
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageRejected("corrupt", f"size {width}x{height}")
    if width * height > options.max_pixels:
        raise ImageRejected("decompression_bomb", f"{width}x{height} is over the {options.max_pixels:,}-pixel limit")
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode.startswith("I"):  # 16-bit grayscale PNG (I;16, I;16B) or I: scale, don't clip, to 8 bits
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    return image.convert("RGB")  # CMYK, L, P...


def _target(size: tuple[int, int], shorter: int) -> tuple[int, int]:
    width, height = size
    if width <= height:
        return shorter, max(1, round(height * shorter / width))
    return max(1, round(width * shorter / height)), shorter
