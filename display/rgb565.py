"""RGB888 pictures to the ST7735's 16-bit RGB565 pixels, as bytes, cheaply.

The ST7735 takes each pixel as two bytes, most significant first: RRRRRGGG GGGBBBBB. A 160x128
frame is 40960 bytes. The st7735 library converts with numpy and then builds a Python list of
40960 ints, which costs milliseconds on a Pi Zero; here the result stays a bytes object from
start to end, packed by Pillow alone (per-channel lookup tables). numpy would add about 14 MB
resident for nothing, so the panel's path never imports it; `to_rgb565_numpy` stays only as a
cross-check for tests and `python -m display.bench`.

`changed_boxes` finds what changed between two frames, so that only those rectangles are sent:
the ST7735 takes a window (CASET/RASET) and then just the pixels inside it (RAMWR).
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
    return to_rgb565_pillow(rotate(_as_rgb(image), rotation))


def to_rgb565_numpy(image: Image.Image) -> bytes:
    """RGB565 (big-endian) with numpy: a cross-check for tests and the display bench only."""
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


#: What a window costs on the wire besides its pixels: CASET and RASET (1 + 4 bytes each), RAMWR
#: (1 byte) and the DC line switching between them, counted as the pixels it would buy.
WINDOW_OVERHEAD_PX = 8
BAND_ROWS = 8


def changed_boxes(before: Image.Image | None, after: Image.Image, band_rows: int = BAND_ROWS) -> list[tuple[int, int, int, int]]:
    """The rectangles (left, top, right, bottom; right and bottom exclusive) of `after` that differ
    from `before`, in `after`'s coordinates. Nothing changed: []. No `before`: the whole picture.

    The difference is looked at in bands of rows, so that two changes far apart (a clock at the
    top, a value at the bottom) become two small windows instead of one that spans the screen;
    neighbouring bands are joined when one window costs less than two.
    """
    width, height = after.size
    if before is None or before.size != after.size:
        return [(0, 0, width, height)]
    diff = ImageChops.difference(_as_rgb(before), _as_rgb(after))
    if diff.getbbox() is None:
        return []
    boxes: list[tuple[int, int, int, int]] = []
    for top in range(0, height, band_rows):
        found = diff.crop((0, top, width, min(height, top + band_rows))).getbbox()
        if found is None:
            continue
        box = (found[0], top + found[1], found[2], top + found[3])
        if boxes and _joined_is_cheaper(boxes[-1], box):
            box = _union(boxes.pop(), box)
        boxes.append(box)
    return boxes


def _area(box: tuple[int, int, int, int]) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def _union(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _joined_is_cheaper(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return _area(_union(a, b)) <= _area(a) + _area(b) + WINDOW_OVERHEAD_PX


def window_bytes(boxes: list[tuple[int, int, int, int]]) -> int:
    """Bytes on the SPI bus for these windows: 11 command bytes each plus 2 bytes a pixel."""
    return sum(11 + 2 * _area(box) for box in boxes)
