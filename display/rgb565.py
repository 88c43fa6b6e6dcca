"""RGB888 pictures to the ST7735's 16-bit RGB565 pixels, as bytes, cheaply.

The ST7735 takes each pixel as two bytes, most significant first: RRRRRGGG GGGBBBBB. A 160x128
frame is 40960 bytes. The st7735 library converts with numpy and then builds a Python list of
40960 ints, which costs milliseconds on a Pi Zero; here the result stays a bytes object from
start to end. Two ways give identical bytes: numpy (fastest, used when numpy is installed, as it
is wherever the st7735 library is) and Pillow alone (per-channel lookup tables, no numpy needed).
"""

from __future__ import annotations

from PIL import Image, ImageChops

# rotation (degrees, counter-clockwise like the st7735 library's numpy.rot90) -> Pillow transpose
_ROTATIONS = {
    0: None,
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}

# Lookup tables: high byte = R[7:3] G[7:5], low byte = G[4:2] B[7:3].
_HIGH_FROM_RED = [v & 0xF8 for v in range(256)]
_HIGH_FROM_GREEN = [v >> 5 for v in range(256)]
_LOW_FROM_GREEN = [(v & 0x1C) << 3 for v in range(256)]
_LOW_FROM_BLUE = [v >> 3 for v in range(256)]


def rotate(image: Image.Image, rotation: int) -> Image.Image:
    """Turn the picture by `rotation` degrees counter-clockwise (0, 90, 180 or 270)."""
    try:
        transpose = _ROTATIONS[rotation % 360]
    except KeyError:
        raise ValueError(f"display rotation is {rotation}; it must be 0, 90, 180 or 270.") from None
    return image if transpose is None else image.transpose(transpose)


def to_rgb565(image: Image.Image, rotation: int = 0) -> bytes:
    """The picture as big-endian RGB565 bytes, rotated as the panel is mounted."""
    image = rotate(_as_rgb(image), rotation)
    try:
        import numpy  # noqa: F401  (present on the Pi with the st7735 library)
    except ImportError:
        return to_rgb565_pillow(image)
    return to_rgb565_numpy(image)


def to_rgb565_numpy(image: Image.Image) -> bytes:
    """RGB565 (big-endian) with numpy: a few vector operations over the whole frame."""
    import numpy as np

    pixels = np.asarray(_as_rgb(image), dtype=np.uint16)
    packed = ((pixels[:, :, 0] & 0xF8) << 8) | ((pixels[:, :, 1] & 0xFC) << 3) | (pixels[:, :, 2] >> 3)
    return packed.astype(">u2").tobytes()


def to_rgb565_pillow(image: Image.Image) -> bytes:
    """RGB565 (big-endian) with Pillow only: the two bytes of each pixel are built as two 8-bit
    pictures from lookup tables (their bits do not overlap, so adding them is OR) and
    interleaved by packing them as a two-channel "LA" picture."""
    red, green, blue = _as_rgb(image).split()
    high = ImageChops.add(red.point(_HIGH_FROM_RED), green.point(_HIGH_FROM_GREEN))
    low = ImageChops.add(green.point(_LOW_FROM_GREEN), blue.point(_LOW_FROM_BLUE))
    return Image.merge("LA", (high, low)).tobytes()


def _as_rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")
