"""The front panel's screens: `render(snapshot)` draws the 160x128 picture.

People open the distribution board, look for two seconds and close it again, so every screen
answers four questions in this order: is it charging (the coloured header band and its word),
how fast (the large kW figure), is the sun helping (the yellow sun row and the yellow part of the
bar) and is anything wrong (a red header, or an amber warning row).

`render` is a pure function: the same snapshot always gives the same picture, which is what the
golden-image tests and the "redraw only on change" panels rely on.
"""

from __future__ import annotations

from PIL import Image, ImageDraw

from display import icons
from display.palette import (AMBER, BLACK, BLUE, DARK_GREY, GREEN, GREY, HEADER_H, HEIGHT, LIGHT_BLUE, MARGIN,
                             RED, SIZE, WHITE, WIDTH, YELLOW)
from display.rows import COUNTDOWN_STEP_S, age_text, battery_badge, budget_bar, kw, progress_bar, stepped_s, sun_row
from display.snapshot import Snapshot
from display.text import fit, font, text_width, wrap

__all__ = ["render", "next_change_s", "screen_name", "font", "problem_detail", "problem_text", "AMBER", "BLUE",
           "GREEN", "RED", "HEIGHT"]

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

LOWERING_TOLERANCE_A = 1.0  # a car's measured current sits up to about 1 A off the setpoint

_MODE_LABELS = {"fast": "FAST", "pv": "PV", "minpv": "MIN+PV", "off": "OFF"}
_MODE_COLOURS = {"fast": LIGHT_BLUE, "pv": YELLOW, "minpv": YELLOW, "off": GREY}


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


def visible(snapshot: Snapshot) -> Snapshot:
    """`snapshot` with its clock-driven fields reduced to what the screen shows of them: the
    time to the minute, the data age and the pause countdown in their 5 s steps. Two snapshots
    that are `visible`-equal draw the same picture."""
    return snapshot.replace(
        now=snapshot.now.replace(second=0, microsecond=0),
        pv_age_s=age_text(snapshot.pv_age_s) if _age_shown(snapshot) else None,
        pause_remaining_s=None if snapshot.pause_remaining_s is None else stepped_s(snapshot.pause_remaining_s),
    )


def _age_shown(s: Snapshot) -> bool:
    """The data age is on the screen only in the sun row's warning (rows.sun_row)."""
    return not s.storage_problem and (s.inverter_stale or s.pv_w is None) and s.pv_age_s is not None


def next_change_s(snapshot: Snapshot) -> float:
    """Seconds until the picture of `snapshot` would change by the passing of time alone: the
    clock's next minute, the data age's or the pause countdown's next step. The service sleeps
    until then when nothing else happens."""
    s = snapshot
    due = 60.0 - s.now.second - s.now.microsecond / 1e6
    if _age_shown(s):
        due = min(due, _age_step_in_s(s.pv_age_s))
    if s.pause_remaining_s is not None and s.pause_remaining_s > 0:
        # stepped_s rounds up: the figure drops when the remaining time reaches the step below.
        due = min(due, s.pause_remaining_s - (stepped_s(s.pause_remaining_s) - COUNTDOWN_STEP_S))
    return max(0.0, due)


def _age_step_in_s(age_s: float) -> float:
    """Until age_text(age_s) says something else: 5 s steps, then minutes, then hours (rounded)."""
    if age_s < 120:
        return COUNTDOWN_STEP_S - age_s % COUNTDOWN_STEP_S if age_s % COUNTDOWN_STEP_S else 1e-3
    if age_s < 3600:
        return min(60.0 - (age_s + 30.0) % 60.0, 3600.0 - age_s)   # minutes, then "1 h"
    return 3600.0 - (age_s + 1800.0) % 3600.0


_last_drawn: tuple[Snapshot, Image.Image] | None = None


def render(snapshot: Snapshot) -> Image.Image:
    """The 160x128 RGB picture for `snapshot`. It is drawn only when something visible changed;
    otherwise the last picture is returned again (the same object: do not draw on it, copy it)."""
    global _last_drawn
    key = visible(snapshot)
    last = _last_drawn  # one read: the web page's thread renders too
    if last is not None and last[0] == key:
        return last[1]
    image = draw(snapshot)
    _last_drawn = (key, image)
    return image


def draw(snapshot: Snapshot) -> Image.Image:
    """Draw the screen for `snapshot`: a new 160x128 RGB picture, every time."""
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
    clock_left = WIDTH - MARGIN - text_width("00:00", font(15))
    title_font = font(15)
    if s.dimmed:
        # The grid operator dims the wallbox: an amber tag after the state word says so.
        tag_font = font(11, condensed=True)
        tag_w = text_width("DIM", tag_font) + 6
        room = clock_left - MARGIN - tag_w - 6
        title_font = font(15) if text_width(title, font(15)) <= room else fit(title, room, (15, 14, 13, 12))
        tag_left = MARGIN + text_width(title, title_font) + 3
        draw.rounded_rectangle((tag_left, 3, tag_left + tag_w, HEADER_H - 4), radius=3, fill=BLACK)
        draw.text((tag_left + tag_w / 2, HEADER_H // 2), "DIM", font=tag_font, fill=AMBER, anchor="mm")
    draw.text((MARGIN, HEADER_H // 2), title, font=title_font, fill=ink, anchor="lm")
    draw.text((WIDTH - MARGIN, HEADER_H // 2), s.now.strftime("%H:%M"), font=font(15), fill=ink, anchor="rm")


def _has_battery(s: Snapshot) -> bool:
    return s.battery_w is not None or s.soc_pct is not None


def _top_right_limit(s: Snapshot) -> int:
    """Where text under the header must end: left of the battery badge when there is one."""
    return WIDTH - MARGIN - (40 if _has_battery(s) else 0)


def _mode_chip(draw: ImageDraw.ImageDraw, s: Snapshot, right: int, top: int) -> float:
    """The mode as a coloured outline label, right-aligned at `right`; returns its left edge."""
    label = _MODE_LABELS[s.mode]
    f = font(14, condensed=True)
    text_w = text_width(label, f)
    left = right - text_w - 8
    colour = _MODE_COLOURS[s.mode]
    draw.rounded_rectangle((left, top, right, top + 17), radius=4, outline=colour, width=2)
    draw.text(((left + right) / 2, top + 9), label, font=f, fill=colour, anchor="mm")
    return left


# ---------------------------------------------------------------- screens


def _charging(image: Image.Image, draw: ImageDraw.ImageDraw, s: Snapshot) -> None:
    icons.paste(image, "bolt", (MARGIN - 1, 26), 30, GREEN)
    big = kw(s.car_power_w)
    # Number and unit share one baseline; smaller beside a battery badge.
    big_font, unit_font = (font(27), font(15)) if _has_battery(s) else (font(34), font(17))
    draw.text((30, 55), big, font=big_font, fill=WHITE, anchor="ls")
    unit_x = 30 + text_width(big, big_font) + 4
    draw.text((unit_x, 55), "kW", font=unit_font, fill=WHITE, anchor="ls")

    current = f"{s.current_a:.1f} A"
    # A lowered setpoint takes the car a few seconds to follow: say so instead of "24.0 A of 21 A".
    lowering = s.current_a > s.setpoint_a + LOWERING_TOLERANCE_A
    current_font = font(16) if lowering else font(18)
    draw.text((MARGIN, 70), current, font=current_font, fill=WHITE, anchor="lm")
    setpoint_x = MARGIN + text_width(current, current_font) + 5
    limit = f"down to {s.setpoint_a} A" if lowering else f"of {s.setpoint_a} A"
    draw.text((setpoint_x, 71), limit, font=fit(limit, WIDTH - MARGIN - setpoint_x, (14, 13, 12)),
              fill=AMBER if lowering else GREY, anchor="lm")

    sun_row(image, draw, s, 81)
    budget_bar(draw, s, 101, height=9)
    # "max": what the car may draw now under every rule, the whole length of the bar.
    approx = "~" if s.surplus_estimated and s.mode != "fast" else ""  # surplus estimated: no grid meter
    caption = f"max {approx}{kw(s.budget_w)} kW"  # amber while dimmed, with DIM in the header
    chip_left = _mode_chip(draw, s, WIDTH - MARGIN, 111)
    draw.text((MARGIN, 119), caption, font=fit(caption, chip_left - MARGIN - 4, (14, 13, 12)),
              fill=AMBER if s.dimmed else GREY, anchor="lm")
    battery_badge(image, draw, s, WIDTH - MARGIN, 24)


def _waiting(image: Image.Image, draw: ImageDraw.ImageDraw, s: Snapshot) -> None:
    if s.waiting_for == "schedule":
        icons.paste(image, "clock", (MARGIN, 26), 34, LIGHT_BLUE)
        draw.text((46, 33), "starts at", font=fit("starts at", _top_right_limit(s) - 46, (15, 14, 13)),
                  fill=WHITE, anchor="lm")
        draw.text((46, 53), s.schedule_start or "--:--", font=font(24), fill=WHITE, anchor="lm")
    elif s.waiting_for == "car":
        # The appliance offers a current; the car takes none: full, or its own charging timer.
        icons.paste(image, "car", (MARGIN, 36), 20, LIGHT_BLUE)
        limit = _top_right_limit(s) - 46 + 8
        draw.text((46, 34), "car idle", font=fit("car idle", limit, (20, 18, 16)),
                  fill=WHITE, anchor="lm")
        draw.text((46, 55), "full or timer", font=fit("full or timer", limit, (15, 14, 13, 12)),
                  fill=GREY, anchor="lm")
    else:
        # Waiting for the sun (pv mode), or for anything the service did not name.
        sun_on = not s.inverter_stale and (s.pv_w or 0) >= 50
        icons.paste(image, "sun", (MARGIN, 25), 36, YELLOW if sun_on else GREY)
        draw.text((46, 34), "for sun", font=fit("for sun", _top_right_limit(s) - 46, (20, 18), condensed=False),
                  fill=WHITE, anchor="lm")
        if s.start_needs_w:
            if s.surplus_w is not None:
                approx = "~" if s.surplus_estimated else ""
                text = f"{approx}{kw(s.surplus_w)} of {kw(s.start_needs_w)} kW"
            else:
                text = f"needs {kw(s.start_needs_w)} kW"
            sizes = (16, 15, 14, 13, 12)
            draw.text((46, 55), text, font=fit(text, _top_right_limit(s) - 46 + 8, sizes), fill=GREY, anchor="lm")
    # Waiting for a schedule window: the mode in force until then (often "off") would only puzzle.
    ready = f"offer {s.setpoint_a} A" if s.waiting_for == "car" else "car ready"
    _info_line(image, draw, s, 67, "car", ready, chip=s.waiting_for != "schedule")
    sun_row(image, draw, s, 89)
    battery_badge(image, draw, s, WIDTH - MARGIN, 24)
    if s.start_needs_w and s.surplus_w is not None and not s.inverter_stale:
        progress_bar(draw, s.surplus_w, s.start_needs_w, 114)


def _info_line(image: Image.Image, draw: ImageDraw.ImageDraw, s: Snapshot, top: int,
               icon: str | None, text: str, colour=WHITE, chip: bool = True) -> None:
    """One line of what to know or do (left) and the mode (right)."""
    x = MARGIN
    if icon:
        icons.paste(image, icon, (x, top + 3), 13, colour)
        x += icons.mask_for(icon, 13).width + 5
    draw.text((x, top + 9), text, font=font(14, condensed=True), fill=colour, anchor="lm")
    if chip:
        _mode_chip(draw, s, WIDTH - MARGIN, top)


def _paused(image: Image.Image, draw: ImageDraw.ImageDraw, s: Snapshot) -> None:
    icons.paste(image, "pause", (MARGIN + 2, 27), 34, AMBER)
    if s.pause_remaining_s is not None:
        remaining = stepped_s(s.pause_remaining_s)  # changes every 5 s, not every second
        minutes, seconds = divmod(remaining, 60)
        draw.text((46, 33), "resumes in", font=fit("resumes in", _top_right_limit(s) - 46, (15, 14, 13, 12)),
                  fill=WHITE, anchor="lm")
        draw.text((46, 53), f"{minutes}:{seconds:02d}", font=font(24), fill=WHITE, anchor="lm")
    else:
        draw.text((46, 34), "until you", font=font(16), fill=WHITE, anchor="lm")
        draw.text((46, 54), "press", font=font(16), fill=WHITE, anchor="lm")
    _info_line(image, draw, s, 67, None, "press: resume", AMBER)
    sun_row(image, draw, s, 89)
    battery_badge(image, draw, s, WIDTH - MARGIN, 24)


def _off(image: Image.Image, draw: ImageDraw.ImageDraw, s: Snapshot) -> None:
    icons.paste(image, "car", (MARGIN, 32), 20, GREY)
    draw.text((46, 42), "Charging off", font=fit("Charging off", _top_right_limit(s) - 46, (16, 14, 12)),
              fill=WHITE, anchor="lm")
    _info_line(image, draw, s, 67, None, "hold 2 s: mode", GREY)
    sun_row(image, draw, s, 89)
    battery_badge(image, draw, s, WIDTH - MARGIN, 24)


def _no_car(image: Image.Image, draw: ImageDraw.ImageDraw, s: Snapshot) -> None:
    icons.paste(image, "plug", (MARGIN + 2, 26), 32, GREY)
    lines = ("Car status", "unknown") if s.car_connected is None else ("Plug in", "to charge")
    draw.text((42, 34), lines[0], font=fit(lines[0], _top_right_limit(s) - 42, (17, 15, 14), condensed=False),
              fill=WHITE, anchor="lm")
    draw.text((42, 54), lines[1], font=font(17), fill=WHITE, anchor="lm")
    _info_line(image, draw, s, 67, None, "mode", GREY)
    sun_row(image, draw, s, 89)
    battery_badge(image, draw, s, WIDTH - MARGIN, 24)


# What to check when the wallbox does not answer, by how the appliance reaches it.
LINK_ADVICE = {
    "rtu": "Check the RS-485 cable (A, B, GND) and the wallbox power.",
    "tcp": "Check the wallbox's network link, its address in the settings and its power.",
    "meter": "Check the RS-485 meter cable, the LOG cable and the wallbox power.",
    None: "Check the wallbox's cable and its power.",
}
_DETAIL_WIDTH = WIDTH - 2 * MARGIN


def problem_detail(detail: str) -> tuple[str, int, list[str]]:
    """How a problem's sentence is laid out: ("large" | "compact", font size, lines).

    Large: the big warning and a two-line title, four lines of 14 px below. Compact, for longer
    sentences: a one-line title and up to seven lines at 13 to 11 px. Only a sentence longer
    than that ends in "..." after a whole word.
    """
    for size in (14, 13):
        lines, fitted = wrap(detail, font(size, condensed=True), _DETAIL_WIDTH, 4)
        if fitted:
            return "large", size, lines
    for size in (13, 12, 11):
        lines, fitted = wrap(detail, font(size, condensed=True), _DETAIL_WIDTH, (HEIGHT - 40) // (size + 1))
        if fitted:
            return "compact", size, lines
    return "compact", 11, lines


def problem_text(s: Snapshot) -> tuple[tuple[str, str], str]:
    """The problem screen's two-line title and the sentence that says what to do."""
    if s.settings_error:
        return ("Settings", "invalid"), s.settings_error
    return ("Wallbox not", "answering"), s.wallbox_hint or LINK_ADVICE.get(s.link_kind, LINK_ADVICE[None])


def _problem(image: Image.Image, draw: ImageDraw.ImageDraw, s: Snapshot) -> None:
    title, detail = problem_text(s)
    layout, size, lines = problem_detail(detail)
    f = font(size, condensed=True)
    if layout == "large":
        icons.paste(image, "warning", (MARGIN, 26), 30, RED)
        draw.text((44, 32), title[0], font=font(16, condensed=True), fill=WHITE, anchor="lm")
        draw.text((44, 50), title[1], font=font(16, condensed=True), fill=WHITE, anchor="lm")
        top, step = 72, size + 1
    else:
        icons.paste(image, "warning", (MARGIN, 24), 16, RED)
        heading = " ".join(title)
        draw.text((MARGIN + 22, 32), heading, font=fit(heading, WIDTH - MARGIN - 26, (15, 14, 13, 12)), fill=WHITE,
                  anchor="lm")
        top, step = 40 + (size + 1) // 2, size + 1
    for i, line in enumerate(lines):
        draw.text((MARGIN, top + i * step), line, font=f, fill=AMBER, anchor="lm")


def _starting(image: Image.Image, draw: ImageDraw.ImageDraw, s: Snapshot) -> None:
    icons.paste(image, "plug", (MARGIN + 2, 28), 32, LIGHT_BLUE)
    draw.text((42, 36), "Wallbox", font=font(20), fill=WHITE, anchor="lm")
    draw.text((42, 56), "controller", font=font(15, condensed=True), fill=GREY, anchor="lm")
    version = f"version {s.version}"
    draw.text((MARGIN, 84), version, font=fit(version, WIDTH - 2 * MARGIN, (15, 14)), fill=WHITE, anchor="lm")
    address = f"IP {s.ip_address}" if s.ip_address else "no network yet"
    draw.text((MARGIN, 106), address, font=fit(address, WIDTH - 2 * MARGIN, (15, 14)),
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
