"""Where the picture goes: the LCD (st7735), a PNG file, or nowhere.

    backend = make_backend("st7735", rotation=90, invert=False)
    backend.show(render(snapshot))     # True: drawn; False: same picture as before, nothing sent
    backend.set_backlight(False)
    backend.close()

Every backend redraws only when the picture changes, so the service may call `show` as often
as it likes (each cycle and right after a button press); the LCD gets only the rectangles that
changed. spidev and gpiod are imported only when the st7735 backend is made; numpy never is.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from PIL import Image

from display.panel_st7735 import DISPOFF, St7735Panel
from display.rgb565 import changed_boxes, rotate, to_rgb565, window_bytes

log = logging.getLogger(__name__)

BACKENDS = ("st7735", "png", "none")

# Options of each backend, with their defaults (the Waveshare 1.8" module on the reference wiring).
ST7735_DEFAULTS = {
    "port": 0,
    "cs": 0,
    "dc": 25,
    "rst": 27,
    "backlight": 18,
    "rotation": 90,
    "invert": True,  # the library's default; the Waveshare module may need False (check on hardware)
    "bgr": True,
    "offset_left": None,  # None: the library centres 128 columns in the controller's 132 (2)
    "offset_top": None,  # None: the library centres 160 rows in the controller's 162 (1)
    "spi_speed_hz": 4_000_000,
    "width": 128,
    "height": 160,
    "chunk_size": 4096,
}
PNG_DEFAULTS = {"png_path": "/run/wallbox/screen.png"}
# [display] settings that are not for the panel itself; accepted and ignored here.
_SERVICE_OPTIONS = {"backend", "backlight_timeout_s"}


class NoBackend:
    """No screen: pictures are accepted and dropped (a headless box, or tests of the service)."""

    name = "none"

    def __init__(self) -> None:
        self.backlight_on = True

    def show(self, image: Image.Image) -> bool:
        return False

    def set_backlight(self, on: bool) -> None:
        self.backlight_on = bool(on)

    def close(self) -> None:
        pass


class PngBackend:
    """Writes each new picture to `png_path`, atomically: a reader (a web page, the demo, a
    person with an image viewer) never sees a half-written file."""

    name = "png"

    def __init__(self, png_path: str | os.PathLike = PNG_DEFAULTS["png_path"]) -> None:
        self.png_path = Path(png_path)
        self.backlight_on = True
        self._last: bytes | None = None
        try:
            self.png_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RuntimeError(
                f"The screen picture cannot be written to {self.png_path}: {error.strerror}. "
                f"Set [display] png_path to a file in a writable folder."
            ) from error

    def show(self, image: Image.Image) -> bool:
        # No copy for an RGB picture (convert would make one every cycle just to compare it).
        pixels = image.tobytes() if image.mode == "RGB" else image.convert("RGB").tobytes()
        if pixels == self._last:
            return False
        fd, tmp_name = tempfile.mkstemp(prefix=".screen-", suffix=".png", dir=self.png_path.parent)
        try:
            with os.fdopen(fd, "wb") as tmp:
                # zlib level 1: half the CPU of the default 6, and no bigger for a picture of
                # flat colours (8.5 kB either way).
                image.save(tmp, format="PNG", compress_level=1)
            os.replace(tmp_name, self.png_path)
        except BaseException:
            try:
                os.unlink(tmp_name)
            except FileNotFoundError:
                pass
            raise
        self._last = pixels
        return True

    def set_backlight(self, on: bool) -> None:
        self.backlight_on = bool(on)

    def close(self) -> None:
        pass


class St7735Backend:
    """The 1.8" 160x128 LCD (ST7735S) on SPI, driven through spidev and gpiod directly.

    Only what changed since the last picture goes out: each changed rectangle as a window
    (CASET, RASET) and its pixels (RAMWR). A clock ticking over costs a few hundred bytes
    instead of the full 40960-byte frame (82 ms at 4 MHz). The panel is set up here rather than
    through Pimoroni's st7735 library because that library imports numpy (about 14 MB resident
    on the Pi) for a conversion this module does with Pillow and bytes.
    """

    name = "st7735"

    def __init__(self, **options) -> None:
        settings = dict(ST7735_DEFAULTS)
        settings.update(options)
        self.rotation = int(settings["rotation"])
        if self.rotation % 360 not in (0, 90, 180, 270):
            raise ValueError(f"[display] rotation is {self.rotation}; it must be 0, 90, 180 or 270.")
        self.chunk_size = int(settings["chunk_size"])
        self._panel = St7735Panel(settings)
        native = (int(settings["width"]), int(settings["height"]))
        self._size = native if self.rotation % 180 == 0 else (native[1], native[0])
        self._last: Image.Image | None = None  # the last picture sent, in the panel's orientation
        self.bytes_sent = 0  # pixel and window bytes, for the bench
        self.backlight_on = True

    @property
    def size(self) -> tuple[int, int]:
        """The picture size `show` takes (width, height), after the mounting rotation."""
        return self._size

    def show(self, image: Image.Image) -> bool:
        if image.size != self.size:
            raise ValueError(f"The LCD takes {self.size[0]}x{self.size[1]} pictures, not {image.width}x{image.height}.")
        upright = rotate(image if image.mode == "RGB" else image.convert("RGB"), self.rotation)
        boxes = changed_boxes(self._last, upright)
        if not boxes:
            return False
        for box in boxes:
            self._panel.write_window(box, to_rgb565(upright.crop(box)), self.chunk_size)
        self.bytes_sent += window_bytes(boxes)
        self._last = upright
        return True

    def set_backlight(self, on: bool) -> None:
        self._panel.set_backlight(bool(on))
        self.backlight_on = bool(on)

    def close(self) -> None:
        # A frozen last picture would claim a state that no longer holds: blank the panel.
        try:
            self._panel.set_backlight(False)
            self._panel.command(DISPOFF)
        except OSError as error:
            log.warning("The LCD could not be switched off on the way out: %s.", error)


def make_backend(name: str, **options):
    """The panel backend `name` ("st7735", "png" or "none") with its options.

    Options of other backends (all keys of the [display] settings may be passed) are ignored;
    names no backend knows are an error, so a typo does not go unnoticed.
    """
    known = set(ST7735_DEFAULTS) | set(PNG_DEFAULTS) | _SERVICE_OPTIONS
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"Unknown display option(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}."
        )
    if name == "none":
        return NoBackend()
    if name == "png":
        return PngBackend(options.get("png_path", PNG_DEFAULTS["png_path"]))
    if name == "st7735":
        return St7735Backend(**{k: v for k, v in options.items() if k in ST7735_DEFAULTS})
    raise ValueError(f"[display] backend is {name!r}; it must be one of {', '.join(BACKENDS)}.")


__all__ = ["make_backend", "NoBackend", "PngBackend", "St7735Backend", "BACKENDS"]
