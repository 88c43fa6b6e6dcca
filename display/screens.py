"""The front panel's screens: `render(snapshot)` draws the 160x128 picture.

People open the distribution board, look for two seconds and close it again, so every screen
answers four questions in this order: is it charging (the coloured header band and its word),
how fast (the large kW figure), is the sun helping (the yellow sun row and the yellow part of the
bar) and is anything wrong (a red header, or an amber warning row).

`render` is a pure function: the same snapshot always gives the same picture, which is what the
golden-image tests and the "redraw only on change" panels rely on.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from display import icons
from display.snapshot import Snapshot

WIDTH = 160
HEIGHT = 128
SIZE = (WIDTH, HEIGHT)

_FONT_DIR = Path(__file__).with_name("fonts")
_BOLD = "DejaVuSans-Bold.ttf"
_CONDENSED = "DejaVuSansCondensed-Bold.ttf"

# Strong colours on black: the LCD is small, viewed at an angle, often in a dim cabinet.
BLACK = (0, 0, 0)
WHITE = (255, 255, 255)
GREY = (170, 170, 170)
DARK_GREY = (60, 60, 60)
GREEN = (0, 210, 80)
BLUE = (40, 110, 230)
LIGHT_BLUE = (90, 170, 255)
DARK_BLUE = (20, 40, 95)
YELLOW = (255, 212, 0)
DARK_YELLOW = (95, 78, 0)
AMBER = (255, 160, 0)
RED = (215, 20, 20)

HEADER_H = 20
MARGIN = 4

# The header band says the state; its colour says it from across the room.
_HEADERS = {
    "charging": ("CHARGING", GREEN, BLACK),
    "waiting": ("WAITING", BLUE, WHITE),
    "paused": ("PAUSED", AMBER, BLACK),
    "off": ("OFF", DARK_GREY, WHITE),
    "no_car": ("NO CAR", DARK_GREY, WHITE),
    "problem": ("PROBLEM", RED, WHITE),
    "starting": ("STARTING", BLUE, WHITE),
}

_MODE_LABELS = {"fast": "FAST", "pv": "PV", "minpv": "MIN+PV", "off": "OFF"}
_MODE_COLOURS = {"fast": LIGHT_BLUE, "pv": YELLOW, "minpv": YELLOW, "off": GREY}


@lru_cache(maxsize=32)
def font(size: int, condensed: bool = False) -> ImageFont.FreeTypeFont:
    """The panel's font (DejaVu Sans Bold, shipped in display/fonts) at `size` pixels."""
    return ImageFont.truetype(str(_FONT_DIR / (_CONDENSED if condensed else _BOLD)), size)


def screen_name(snapshot: Snapshot) -> str:
    """Which screen `render` draws for this snapshot (also the header's state)."""
    if snapshot.settings_error:
        return "problem"
    if snapshot.starting:
        return "starting"
    if snapshot.wallbox_offline:
        return "problem"
    if snapshot.charging:
        return "charging"
    if snapshot.waiting_for == "paused":
        return "paused"
    if not snapshot.car_connected:
        return "no_car"
    if snapshot.waiting_for == "off" or (snapshot.waiting_for is None and snapshot.mode == "off"):
        return "off"
    return "waiting"


def render(snapshot: Snapshot) -> Image.Image:
    """Draw the screen for `snapshot`: a new 160x128 RGB picture."""
    image = Image.new("RGB", SIZE, BLACK)
    draw = ImageDraw.Draw(image)
    name = screen_name(snapshot)
    _header(draw, name, snapshot)
    _BODIES[name](image, draw, snapshot)
    return image


# ---------------------------------------------------------------- building blocks


def _header(draw: ImageDraw.ImageDraw, name: str, s: Snapshot) -> None:
    title, background, ink = _HEADERS[name]
    draw.rectangle((0, 0, WIDTH - 1, HEADER_H - 1), fill=background)
    draw.text((MARGIN, HEADER_H // 2), title, font=font(15), fill=ink, anchor="lm")
    draw.text((WIDTH - MARGIN, HEADER_H // 2), s.now.strftime("%H:%M"), font=font(15), fill=ink, anchor="rm")


def _kw(power_w: float | None) -> str:
    value = max(0.0, power_w or 0.0) / 1000.0
    return f"{value:.1f}"


def _text_width(text: str, f: ImageFont.FreeTypeFont) -> float:
    return f.getlength(text)


def _fit(text: str, max_width: float, sizes=(16, 15, 14), condensed: bool = True) -> ImageFont.FreeTypeFont:
    """The largest of `sizes` at which `text` fits in `max_width` (the smallest if none does)."""
    for size in sizes:
        f = font(size, condensed)
        if _text_width(text, f) <= max_width:
            return f
    return font(sizes[-1], condensed)


def _wrap(text: str, f: ImageFont.FreeTypeFont, max_width: float, max_lines: int) -> list[str]:
    """Break `text` into lines of at most `max_width`; the last line ends with "..." if cut."""
    words = text.split()
    lines: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}".strip()
        if _text_width(candidate, f) <= max_width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and _text_width(last + "...", f) > max_width:
            last = last[:-1]
        lines[-1] = last.rstrip() + "..."
    # A single word wider than the screen is cut, not drawn over the edge.
    out = []
    for line in lines:
        while _text_width(line, f) > max_width and len(line) > 1:
            line = line[:-1]
        out.append(line)
    return out


def _mode_chip(draw: ImageDraw.ImageDraw, s: Snapshot, right: int, top: int) -> None:
    """The mode as a coloured outline label, right-aligned at `right`."""
    label = _MODE_LABELS[s.mode]
    f = font(14, condensed=True)
    text_w = _text_width(label, f)
    left = right - text_w - 8
    colour = _MODE_COLOURS[s.mode]
    draw.rounded_rectangle((left, top, right, top + 17), radius=4, outline=colour, width=2)
    draw.text(((left + right) / 2, top + 9), label, font=f, fill=colour, anchor="mm")


def _sun_row(image: Image.Image, draw: ImageDraw.ImageDraw, s: Snapshot, top: int) -> None:
    """PV production, or an amber warning when the inverter data is stale or missing."""
    if s.inverter_stale or s.pv_w is None:
        icons.paste(image, "warning", (MARGIN, top + 1), 16, AMBER)
        if s.pv_age_s is None:
            text = "No PV data yet"
        elif s.pv_age_s >= 3600:
            text = f"PV data {s.pv_age_s / 3600:.0f} h old"
        elif s.pv_age_s >= 120:
            text = f"PV data {s.pv_age_s / 60:.0f} min old"
        else:
            text = f"PV data {s.pv_age_s:.0f} s old"
        draw.text((MARGIN + 23, top + 9), text, font=_fit(text, WIDTH - MARGIN - 27), fill=AMBER, anchor="lm")
        return
    pv_w = max(0.0, s.pv_w)
    colour = YELLOW if pv_w >= 50 else GREY
    icons.paste(image, "sun", (MARGIN, top), 18, colour)
    pv_text = f"{_kw(pv_w)} kW"
    draw.text((MARGIN + 24, top + 9), pv_text, font=font(17), fill=colour, anchor="lm")
    if s.grid_w is not None:
        # The house's grid meter: + import, - export (what a meter display shows too).
        free_w = WIDTH - MARGIN - (MARGIN + 24 + _text_width(pv_text, font(17))) - 8
        number = f"{'+' if s.grid_w >= 0 else '-'}{_kw(abs(s.grid_w))}"
        f = font(14, condensed=True)
        if _text_width(f"grid {number}", f) <= free_w:
            draw.text((WIDTH - MARGIN, top + 9), f"grid {number}", font=f, fill=LIGHT_BLUE, anchor="rm")
        else:
            # Too narrow for the word: a pylon says "grid" in less room.
            number_x = WIDTH - MARGIN - _text_width(number, f)
            icons.paste(image, "grid", (int(number_x) - 13, top + 2), 14, LIGHT_BLUE)
            draw.text((WIDTH - MARGIN, top + 9), number, font=f, fill=LIGHT_BLUE, anchor="rm")


def _sun_share_w(s: Snapshot) -> float:
    """How much of the budget comes from the sun (the yellow part of the bar)."""
    budget = max(0.0, s.budget_w)
    if s.inverter_stale or s.pv_w is None:
        return 0.0
    if s.mode == "fast":
        return min(budget, max(0.0, budget - s.allowance_w))
    return min(budget, max(0.0, s.pv_w))


def _budget_bar(draw: ImageDraw.ImageDraw, s: Snapshot, top: int, height: int = 11) -> None:
    """The car's power against what it may draw: blue from the grid allowance, yellow from PV.

    The track shows the budget (dark), the fill shows the car's power (bright); a bright yellow
    fill means the car is running on sunshine.
    """
    left, right = MARGIN, WIDTH - MARGIN
    width = right - left
    budget = max(0.0, s.budget_w)
    full = max(budget, s.car_power_w, 1.0)
    sun = _sun_share_w(s)
    grid = budget - sun

    def x(power_w: float) -> float:
        return left + width * min(1.0, max(0.0, power_w) / full)

    bottom = top + height - 1
    draw.rectangle((left, top, right, bottom), fill=DARK_GREY)
    if grid > 0:
        draw.rectangle((left, top, x(grid), bottom), fill=DARK_BLUE)
    if sun > 0:
        draw.rectangle((x(grid), top, x(budget), bottom), fill=DARK_YELLOW)
    car = max(0.0, s.car_power_w)
    if car > 0:
        draw.rectangle((left, top, x(min(car, grid)), bottom), fill=LIGHT_BLUE)
        if car > grid:
            draw.rectangle((x(grid), top, x(car), bottom), fill=YELLOW)
    draw.rectangle((left - 1, top - 1, right + 1, bottom + 1), outline=GREY)


# ---------------------------------------------------------------- screens


def _charging(image: Image.Image, draw: ImageDraw.ImageDraw, s: Snapshot) -> None:
    icons.paste(image, "bolt", (MARGIN - 1, 26), 30, GREEN)
    big = _kw(s.car_power_w)
    # Number and unit share one baseline.
    draw.text((30, 55), big, font=font(34), fill=WHITE, anchor="ls")
    unit_x = 30 + _text_width(big, font(34)) + 4
    draw.text((unit_x, 55), "kW", font=font(17), fill=WHITE, anchor="ls")

    current = f"{s.current_a:.1f} A"
    draw.text((MARGIN, 70), current, font=font(18), fill=WHITE, anchor="lm")
    setpoint_x = MARGIN + _text_width(current, font(18)) + 6
    draw.text((setpoint_x, 71), f"of {s.setpoint_a} A", font=font(14, condensed=True), fill=GREY, anchor="lm")

    _sun_row(image, draw, s, 81)
    _budget_bar(draw, s, 101, height=9)
    caption = f"max {_kw(s.budget_w)} kW"
    if s.surplus_estimated and s.mode != "fast":
        caption = f"max ~{_kw(s.budget_w)} kW"  # "~": surplus estimated without a grid meter
    draw.text((MARGIN, 119), caption, font=font(14, condensed=True), fill=GREY, anchor="lm")
    _mode_chip(draw, s, WIDTH - MARGIN, 111)


def _waiting(image: Image.Image, draw: ImageDraw.ImageDraw, s: Snapshot) -> None:
    if s.waiting_for == "schedule":
        icons.paste(image, "clock", (MARGIN, 26), 34, LIGHT_BLUE)
        draw.text((46, 33), "starts at", font=font(15, condensed=True), fill=WHITE, anchor="lm")
        draw.text((46, 53), s.schedule_start or "--:--", font=font(24), fill=WHITE, anchor="lm")
    else:
        # Waiting for the sun (pv mode), or for anything the service did not name.
        sun_on = not s.inverter_stale and (s.pv_w or 0) >= 50
        icons.paste(image, "sun", (MARGIN, 25), 36, YELLOW if sun_on else GREY)
        draw.text((46, 34), "for sun", font=font(20), fill=WHITE, anchor="lm")
        if s.start_needs_w:
            if s.surplus_w is not None:
                approx = "~" if s.surplus_estimated else ""
                text = f"{approx}{_kw(s.surplus_w)} of {_kw(s.start_needs_w)} kW"
            else:
                text = f"needs {_kw(s.start_needs_w)} kW"
            draw.text((46, 55), text, font=_fit(text, WIDTH - 46 - MARGIN), fill=GREY, anchor="lm")
    _info_line(image, draw, s, 67, "car", "car ready")
    _sun_row(image, draw, s, 89)
    if s.start_needs_w and s.surplus_w is not None and not s.inverter_stale:
        _progress_bar(draw, s.surplus_w, s.start_needs_w, 114)


def _progress_bar(draw: ImageDraw.ImageDraw, value_w: float, target_w: float, top: int) -> None:
    """How close the surplus is to what the car needs to start (yellow on dark yellow)."""
    left, right = MARGIN, WIDTH - MARGIN
    share = min(1.0, max(0.0, value_w) / max(target_w, 1.0))
    draw.rectangle((left, top, right, top + 9), fill=DARK_YELLOW)
    if share > 0:
        draw.rectangle((left, top, left + (right - left) * share, top + 9), fill=YELLOW)
    draw.rectangle((left - 1, top - 1, right + 1, top + 10), outline=GREY)


def _info_line(image: Image.Image, draw: ImageDraw.ImageDraw, s: Snapshot, top: int,
               icon: str | None, text: str, colour=WHITE) -> None:
    """One line of what to know or do (left) and the mode (right)."""
    x = MARGIN
    if icon:
        icons.paste(image, icon, (x, top + 3), 13, colour)
        x += icons.mask_for(icon, 13).width + 5
    draw.text((x, top + 9), text, font=font(14, condensed=True), fill=colour, anchor="lm")
    _mode_chip(draw, s, WIDTH - MARGIN, top)


def _paused(image: Image.Image, draw: ImageDraw.ImageDraw, s: Snapshot) -> None:
    icons.paste(image, "pause", (MARGIN + 2, 27), 34, AMBER)
    if s.pause_remaining_s is not None:
        remaining = max(0, int(s.pause_remaining_s + 0.999))
        minutes, seconds = divmod(remaining, 60)
        draw.text((46, 33), "resumes in", font=font(15, condensed=True), fill=WHITE, anchor="lm")
        draw.text((46, 53), f"{minutes}:{seconds:02d}", font=font(24), fill=WHITE, anchor="lm")
    else:
        draw.text((46, 34), "until you", font=font(16), fill=WHITE, anchor="lm")
        draw.text((46, 54), "press", font=font(16), fill=WHITE, anchor="lm")
    _info_line(image, draw, s, 67, None, "press: resume", AMBER)
    _sun_row(image, draw, s, 89)


def _off(image: Image.Image, draw: ImageDraw.ImageDraw, s: Snapshot) -> None:
    icons.paste(image, "car", (MARGIN, 32), 20, GREY)
    draw.text((46, 42), "Charging off", font=font(16, condensed=True), fill=WHITE, anchor="lm")
    _info_line(image, draw, s, 67, None, "hold 2 s: mode", GREY)
    _sun_row(image, draw, s, 89)


def _no_car(image: Image.Image, draw: ImageDraw.ImageDraw, s: Snapshot) -> None:
    icons.paste(image, "plug", (MARGIN + 2, 26), 32, GREY)
    lines = ("Car status", "unknown") if s.car_connected is None else ("Plug in", "to charge")
    draw.text((42, 34), lines[0], font=font(17), fill=WHITE, anchor="lm")
    draw.text((42, 54), lines[1], font=font(17), fill=WHITE, anchor="lm")
    _info_line(image, draw, s, 67, None, "mode", GREY)
    _sun_row(image, draw, s, 89)


def _problem(image: Image.Image, draw: ImageDraw.ImageDraw, s: Snapshot) -> None:
    icons.paste(image, "warning", (MARGIN, 26), 30, RED)
    if s.settings_error:
        title = ("Settings", "invalid")
        detail = s.settings_error
    else:
        title = ("Wallbox not", "answering")
        detail = "Check the RS-485 cable and the wallbox power."
    draw.text((44, 32), title[0], font=font(16, condensed=True), fill=WHITE, anchor="lm")
    draw.text((44, 50), title[1], font=font(16, condensed=True), fill=WHITE, anchor="lm")
    f = font(14, condensed=True)
    for i, line in enumerate(_wrap(detail, f, WIDTH - 2 * MARGIN, 4)):
        draw.text((MARGIN, 72 + i * 15), line, font=f, fill=AMBER, anchor="lm")


def _starting(image: Image.Image, draw: ImageDraw.ImageDraw, s: Snapshot) -> None:
    icons.paste(image, "plug", (MARGIN + 2, 28), 32, LIGHT_BLUE)
    draw.text((42, 36), "Wallbox", font=font(20), fill=WHITE, anchor="lm")
    draw.text((42, 56), "controller", font=font(15, condensed=True), fill=GREY, anchor="lm")
    version = f"version {s.version}"
    draw.text((MARGIN, 84), version, font=_fit(version, WIDTH - 2 * MARGIN, (15, 14)), fill=WHITE, anchor="lm")
    address = f"IP {s.ip_address}" if s.ip_address else "no network yet"
    draw.text((MARGIN, 106), address, font=_fit(address, WIDTH - 2 * MARGIN, (15, 14)),
              fill=LIGHT_BLUE if s.ip_address else AMBER, anchor="lm")


_BODIES = {
    "charging": _charging,
    "waiting": _waiting,
    "paused": _paused,
    "off": _off,
    "no_car": _no_car,
    "problem": _problem,
    "starting": _starting,
}
