"""RGB565 packing and the file/none backends, with real Pillow pictures and real files."""

from __future__ import annotations

import os
import random

import pytest
from PIL import Image

from display import rgb565
from display.backends import NoBackend, PngBackend, make_backend


def _random_picture(seed: int, size=(160, 128)) -> Image.Image:
    rng = random.Random(seed)
    return Image.frombytes("RGB", size, bytes(rng.randrange(256) for _ in range(size[0] * size[1] * 3)))


def _reference_rgb565(image: Image.Image) -> bytes:
    """Pixel by pixel, straight from the ST7735 datasheet's 16-bit format: RRRRRGGG GGGBBBBB."""
    out = bytearray()
    raw = image.convert("RGB").tobytes()
    for i in range(0, len(raw), 3):
        r, g, b = raw[i:i + 3]
        value = ((r >> 3) << 11) | ((g >> 2) << 5) | (b >> 3)
        out += value.to_bytes(2, "big")
    return bytes(out)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_numpy_and_pillow_packing_match_the_datasheet(seed):
    picture = _random_picture(seed)
    expected = _reference_rgb565(picture)
    assert len(expected) == 40960
    assert rgb565.to_rgb565_numpy(picture) == expected
    assert rgb565.to_rgb565_pillow(picture) == expected
    assert rgb565.to_rgb565(picture) == expected


def test_every_channel_value_packs_correctly():
    # 256 columns: every red, green and blue value, on its own and mixed.
    picture = Image.new("RGB", (256, 4))
    for v in range(256):
        picture.putpixel((v, 0), (v, 0, 0))
        picture.putpixel((v, 1), (0, v, 0))
        picture.putpixel((v, 2), (0, 0, v))
        picture.putpixel((v, 3), (v, 255 - v, v ^ 0x55))
    expected = _reference_rgb565(picture)
    assert rgb565.to_rgb565_pillow(picture) == expected
    assert rgb565.to_rgb565_numpy(picture) == expected


def test_rotation_turns_counter_clockwise_and_rejects_odd_angles():
    picture = Image.new("RGB", (3, 2))
    picture.putpixel((2, 0), (255, 255, 255))  # top right
    turned = rgb565.rotate(picture, 90)
    assert turned.size == (2, 3)
    assert turned.getpixel((0, 0)) == (255, 255, 255)  # now top left
    with pytest.raises(ValueError, match="0, 90, 180 or 270"):
        rgb565.to_rgb565(picture, 45)


def test_png_backend_writes_atomically_and_only_on_change(tmp_path):
    path = tmp_path / "run" / "screen.png"
    backend = make_backend("png", png_path=str(path), rotation=90, backlight_timeout_s=60)
    assert isinstance(backend, PngBackend)
    first = _random_picture(5)
    assert backend.show(first) is True
    with Image.open(path) as written:
        assert written.size == (160, 128)
        assert written.convert("RGB").tobytes() == first.tobytes()
    stamp = os.stat(path).st_mtime_ns
    inode = os.stat(path).st_ino
    assert backend.show(first.copy()) is False
    assert os.stat(path).st_mtime_ns == stamp
    second = _random_picture(6)
    assert backend.show(second) is True
    # A new file took the old one's place (rename), and no temporary file is left behind.
    assert os.stat(path).st_ino != inode
    assert sorted(p.name for p in path.parent.iterdir()) == ["screen.png"]
    with Image.open(path) as written:
        assert written.convert("RGB").tobytes() == second.tobytes()


def test_png_backend_names_the_setting_when_the_folder_cannot_be_made(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RuntimeError, match=r"png_path"):
        make_backend("png", png_path=str(blocker / "screen.png"))


def test_none_backend_draws_nothing():
    backend = make_backend("none", png_path="/nonexistent/x.png")
    assert isinstance(backend, NoBackend)
    assert backend.show(_random_picture(1)) is False
    backend.set_backlight(False)
    assert backend.backlight_on is False
    backend.close()


def test_unknown_backend_and_unknown_option_are_reported():
    with pytest.raises(ValueError, match="st7735, png, none"):
        make_backend("hdmi")
    with pytest.raises(ValueError, match="rotaton"):
        make_backend("none", rotaton=90)


def test_st7735_backend_without_the_library_names_the_fix(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "st7735", None)  # import st7735 -> ImportError
    with pytest.raises(RuntimeError, match='backend = "png"'):
        make_backend("st7735")
