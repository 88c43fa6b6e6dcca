"""Small pictograms for the front panel, drawn with Pillow's ImageDraw.

Each icon is drawn as a mask four times larger than needed and scaled down, which smooths the
edges (ImageDraw itself does not anti-alias shapes). Masks are cached: the same size always gives
the same mask, so screens stay pure functions of their snapshot.
"""

from __future__ import annotations

import math
from functools import lru_cache

from PIL import Image, ImageDraw

_SCALE = 4


def paste(image: Image.Image, name: str, xy: tuple[int, int], size: int, colour) -> None:
    """Draw icon `name` in `colour` with its top-left corner at `xy`, `size` pixels high."""
    mask = mask_for(name, size)
    image.paste(colour, (xy[0], xy[1], xy[0] + mask.width, xy[1] + mask.height), mask)


@lru_cache(maxsize=64)
def mask_for(name: str, size: int) -> Image.Image:
    """The icon's coverage mask ("L" image): 255 where the icon is, 0 where it is not."""
    try:
        draw_fn, aspect = _ICONS[name]
    except KeyError:
        raise ValueError(f"There is no icon {name!r}; known icons: {', '.join(sorted(_ICONS))}.") from None
    width = max(1, round(size * aspect))
    big = Image.new("L", (width * _SCALE, size * _SCALE), 0)
    draw_fn(ImageDraw.Draw(big), width * _SCALE, size * _SCALE)
    return big.resize((width, size), Image.Resampling.BOX)


def _sun(d: ImageDraw.ImageDraw, w: int, h: int) -> None:
    cx, cy = w / 2, h / 2
    r_disc = h * 0.24
    d.ellipse((cx - r_disc, cy - r_disc, cx + r_disc, cy + r_disc), fill=255)
    ray_w = max(1, round(h * 0.09))
    for k in range(8):
        a = k * math.pi / 4
        x0, y0 = cx + math.cos(a) * h * 0.34, cy + math.sin(a) * h * 0.34
        x1, y1 = cx + math.cos(a) * h * 0.48, cy + math.sin(a) * h * 0.48
        d.line((x0, y0, x1, y1), fill=255, width=ray_w)


def _warning(d: ImageDraw.ImageDraw, w: int, h: int) -> None:
    d.polygon(((w / 2, 0), (w - 1, h - 1), (0, h - 1)), fill=255)
    # The exclamation mark is cut out of the triangle, so it shows the background colour.
    bar_w = w * 0.11
    d.rectangle((w / 2 - bar_w / 2, h * 0.33, w / 2 + bar_w / 2, h * 0.68), fill=0)
    d.rectangle((w / 2 - bar_w / 2, h * 0.76, w / 2 + bar_w / 2, h * 0.87), fill=0)


def _pause(d: ImageDraw.ImageDraw, w: int, h: int) -> None:
    bar_w = w * 0.32
    d.rectangle((w * 0.08, 0, w * 0.08 + bar_w, h - 1), fill=255)
    d.rectangle((w * 0.92 - bar_w, 0, w * 0.92, h - 1), fill=255)


def _clock(d: ImageDraw.ImageDraw, w: int, h: int) -> None:
    ring = max(1, round(h * 0.11))
    d.ellipse((0, 0, w - 1, h - 1), fill=255)
    d.ellipse((ring, ring, w - 1 - ring, h - 1 - ring), fill=0)
    cx, cy = w / 2, h / 2
    hand = max(1, round(h * 0.09))
    d.line((cx, cy, cx, h * 0.2), fill=255, width=hand)
    d.line((cx, cy, w * 0.72, h * 0.62), fill=255, width=hand)


def _car(d: ImageDraw.ImageDraw, w: int, h: int) -> None:
    # Side view: cabin, body, two wheels (cut out so they read as wheels on any background).
    d.polygon(((w * 0.22, h * 0.42), (w * 0.34, h * 0.08), (w * 0.70, h * 0.08), (w * 0.84, h * 0.42)), fill=255)
    d.rounded_rectangle((0, h * 0.38, w - 1, h * 0.80), radius=h * 0.12, fill=255)
    d.polygon(((w * 0.30, h * 0.40), (w * 0.38, h * 0.18), (w * 0.50, h * 0.18), (w * 0.50, h * 0.40)), fill=0)
    d.polygon(((w * 0.55, h * 0.40), (w * 0.55, h * 0.18), (w * 0.67, h * 0.18), (w * 0.77, h * 0.40)), fill=0)
    for cx in (w * 0.24, w * 0.76):
        r = h * 0.22
        d.ellipse((cx - r - h * 0.06, h * 0.76 - r - h * 0.06, cx + r + h * 0.06, h * 0.76 + r + h * 0.06), fill=0)
        d.ellipse((cx - r, h * 0.76 - r, cx + r, h * 0.76 + r), fill=255)


def _plug(d: ImageDraw.ImageDraw, w: int, h: int) -> None:
    pin_w = w * 0.14
    for x in (w * 0.3, w * 0.7):
        d.rectangle((x - pin_w / 2, 0, x + pin_w / 2, h * 0.3), fill=255)
    d.rounded_rectangle((w * 0.1, h * 0.28, w * 0.9, h * 0.62), radius=w * 0.12, fill=255)
    d.polygon(((w * 0.22, h * 0.6), (w * 0.78, h * 0.6), (w * 0.6, h * 0.78), (w * 0.4, h * 0.78)), fill=255)
    d.rectangle((w * 0.42, h * 0.76, w * 0.58, h - 1), fill=255)


def _bolt(d: ImageDraw.ImageDraw, w: int, h: int) -> None:
    d.polygon(
        (
            (w * 0.62, 0),
            (w * 0.08, h * 0.58),
            (w * 0.46, h * 0.58),
            (w * 0.34, h - 1),
            (w * 0.92, h * 0.40),
            (w * 0.54, h * 0.40),
            (w * 0.70, 0),
        ),
        fill=255,
    )


def _grid(d: ImageDraw.ImageDraw, w: int, h: int) -> None:
    # A transmission pylon: legs, two cross-arms.
    lw = max(1, round(w * 0.1))
    d.line((w * 0.5, 0, w * 0.12, h - 1), fill=255, width=lw)
    d.line((w * 0.5, 0, w * 0.88, h - 1), fill=255, width=lw)
    d.line((0, h * 0.25, w - 1, h * 0.25), fill=255, width=lw)
    d.line((w * 0.1, h * 0.52, w * 0.9, h * 0.52), fill=255, width=lw)
    d.line((w * 0.3, h * 0.52, w * 0.78, h - 1), fill=255, width=lw)
    d.line((w * 0.7, h * 0.52, w * 0.22, h - 1), fill=255, width=lw)


# name -> (drawing function, width / height)
_ICONS = {
    "sun": (_sun, 1.0),
    "warning": (_warning, 1.12),
    "pause": (_pause, 0.85),
    "clock": (_clock, 1.0),
    "car": (_car, 1.75),
    "plug": (_plug, 0.8),
    "bolt": (_bolt, 0.7),
    "grid": (_grid, 0.8),
}

NAMES = tuple(sorted(_ICONS))
