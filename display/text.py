"""Text on the panel: the font, fitting a line into a width, and wrapping at word boundaries.

Text that does not fit is wrapped, set smaller (never below 11 px) or, as a last resort, ended
with "..." after the last whole word: no word is ever cut in the middle.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

_FONT_DIR = Path(__file__).with_name("fonts")
_BOLD = "DejaVuSans-Bold.ttf"
_CONDENSED = "DejaVuSansCondensed-Bold.ttf"
ELLIPSIS = "..."


class _RememberingFont(ImageFont.FreeTypeFont):
    """The font, remembering the rendered masks and the widths of the texts it has set.

    A redraw after a push changes one or two figures; the labels around them ("kW", "of 16 A",
    the mode, the header) are the same as last time. Rendering them again with FreeType was most
    of a redraw's CPU (measured with cProfile over 200 pushes); a remembered mask draws the very
    same pixels. The memory is bounded: it starts afresh after MAX_REMEMBERED texts."""

    MAX_REMEMBERED = 256

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._masks: dict = {}
        self._lengths: dict = {}

    def getmask2(self, text, mode="", *args, **kwargs):
        return _remembered(self._masks, super().getmask2, text, mode, *args, **kwargs)

    def getlength(self, text, mode="", *args, **kwargs):
        return _remembered(self._lengths, super().getlength, text, mode, *args, **kwargs)


def _remembered(memory: dict, compute, *args, **kwargs):
    try:
        key = (args, tuple(sorted(kwargs.items())))
        hash(key)
    except TypeError:   # a list of features or the like: not worth remembering
        return compute(*args, **kwargs)
    value = memory.get(key)
    if value is None:
        if len(memory) >= _RememberingFont.MAX_REMEMBERED:
            memory.clear()
        value = memory[key] = compute(*args, **kwargs)
    return value


@lru_cache(maxsize=32)
def font(size: int, condensed: bool = False) -> ImageFont.FreeTypeFont:
    """The panel's font (DejaVu Sans Bold, shipped in display/fonts) at `size` pixels."""
    return _RememberingFont(str(_FONT_DIR / (_CONDENSED if condensed else _BOLD)), size)


def text_width(text: str, f: ImageFont.FreeTypeFont) -> float:
    return f.getlength(text)


def fit(text: str, max_width: float, sizes=(16, 15, 14), condensed: bool = True) -> ImageFont.FreeTypeFont:
    """The largest of `sizes` at which `text` fits in `max_width` (the smallest if none does)."""
    for size in sizes:
        f = font(size, condensed)
        if text_width(text, f) <= max_width:
            return f
    return font(sizes[-1], condensed)


def _split_wide_word(word: str, f: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    """A word wider than the line (a long path or key) broken after "/", "." or "_", never inside
    a plain word; a word with no such place is left whole (and drawn shrunk by the caller's fit)."""
    parts: list[str] = []
    current = ""
    for ch in word:
        current += ch
        if ch in "/._-" and text_width(current, f) <= max_width:
            parts.append(current)
            current = ""
    parts.append(current)
    lines: list[str] = []
    line = ""
    for part in parts:
        if line and text_width(line + part, f) > max_width:
            lines.append(line)
            line = part
        else:
            line += part
    if line:
        lines.append(line)
    return lines


def wrap(text: str, f: ImageFont.FreeTypeFont, max_width: float, max_lines: int) -> tuple[list[str], bool]:
    """`text` broken into lines of at most `max_width` at word boundaries.

    Returns the lines and whether everything fitted; when it did not, the last line ends with
    "..." after its last whole word.
    """
    tokens: list[tuple[str, bool]] = []  # (piece, a space before it)
    for word in text.split():
        pieces = _split_wide_word(word, f, max_width) if text_width(word, f) > max_width else [word]
        tokens += [(piece, i == 0) for i, piece in enumerate(pieces)]
    lines: list[str] = []
    current = ""
    for piece, spaced in tokens:
        candidate = current + (" " if spaced and current else "") + piece
        if text_width(candidate, f) <= max_width or not current:
            current = candidate
        else:
            lines.append(current)
            current = piece
    if current:
        lines.append(current)
    if len(lines) <= max_lines:
        return lines, True
    lines = lines[:max_lines]
    last = lines[-1].split(" ")
    while len(last) > 1 and text_width(" ".join(last) + ELLIPSIS, f) > max_width:
        last.pop()
    lines[-1] = " ".join(last).rstrip(",;:") + ELLIPSIS
    return lines, False

