"""Rows several screens share: the sun row (PV and grid), the bars, the battery badge.

Every figure carries its unit. Where a row is short of room the figures are set smaller, never
cut; figures of 10 kW and more lose their decimal as the last step.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from display import icons
from display.palette import (AMBER, DARK_BLUE, DARK_GREY, DARK_YELLOW, GREEN, GREY, LIGHT_BLUE, MARGIN,
                             WHITE, WIDTH, YELLOW)
from display.snapshot import Snapshot
from display.text import fit, font, text_width

COUNTDOWN_STEP_S = 5  # countdowns and ages change at most every 5 s: a calm screen


def kw(power_w: float | None, decimals: int = 1) -> str:
    value = max(0.0, power_w or 0.0) / 1000.0
    return f"{value:.{decimals}f}"


def signed_kw(power_w: float, decimals: int = 1) -> str:
    return f"{'+' if power_w >= 0 else '-'}{kw(abs(power_w), decimals)} kW"


def stepped_s(seconds: float) -> int:
    """Seconds rounded up to the countdown step."""
    step = COUNTDOWN_STEP_S
    return max(0, int(-(-max(0.0, seconds) // step) * step))


def age_text(age_s: float | None) -> str:
    if age_s is None:
        return "No PV data yet"
    if age_s >= 3600:
        return f"PV data {age_s / 3600:.0f} h old"
    if age_s >= 120:
        return f"PV data {age_s / 60:.0f} min old"
    return f"PV data {stepped_s(age_s)} s old"


# (PV font size, PV condensed, grid font size, "grid" as a word, decimals for 10 kW and more)
_SUN_ROW_STYLES = (
    (17, False, 14, True, 1), (17, False, 14, False, 1), (16, True, 14, False, 1),
    (15, True, 13, False, 1), (14, True, 13, False, 1), (13, True, 12, False, 1), (14, True, 13, False, 0),
    (13, True, 12, False, 0),
)


@dataclass(frozen=True)
class SunRowLayout:
    pv_text: str
    pv_font: ImageFont.FreeTypeFont
    grid_text: str | None = None  # None: no grid meter
    grid_font: ImageFont.FreeTypeFont | None = None
    grid_word: bool = False  # True: "grid +0.3 kW"; False: a pylon icon before "+0.3 kW"

    def width(self) -> float:
        """From the PV figure's left edge to the row's right end."""
        pv = text_width(self.pv_text, self.pv_font)
        if self.grid_text is None:
            return pv
        grid = text_width(("grid " if self.grid_word else "") + self.grid_text, self.grid_font)
        return pv + 6 + grid + (0 if self.grid_word else 14)


SUN_ROW_TEXT_LEFT = MARGIN + 24


def sun_row_layout(pv_w: float, grid_w: float | None) -> SunRowLayout:
    """The largest style in which PV and grid, each with its unit, fit the row."""
    pv_w = max(0.0, pv_w)
    layout = None
    for pv_size, pv_condensed, grid_size, word, big_decimals in _SUN_ROW_STYLES:
        pv_text = f"{kw(pv_w, 1 if pv_w < 9950 else big_decimals)} kW"
        if grid_w is None:
            return SunRowLayout(pv_text, font(pv_size, pv_condensed))
        grid_text = signed_kw(grid_w, 1 if abs(grid_w) < 9950 else big_decimals)
        layout = SunRowLayout(pv_text, font(pv_size, pv_condensed), grid_text, font(grid_size, True), word)
        if SUN_ROW_TEXT_LEFT + layout.width() <= WIDTH - MARGIN:
            break
    return layout


def sun_row(image: Image.Image, draw: ImageDraw.ImageDraw, s: Snapshot, top: int) -> None:
    """PV production and the grid meter's figure, or an amber warning when the data is stale or
    the card cannot be written."""
    if s.storage_problem:
        icons.paste(image, "warning", (MARGIN, top + 1), 16, AMBER)
        text = s.storage_problem.split(":")[0]          # "SD card full" fits; the rest is in the log
        draw.text((MARGIN + 23, top + 9), text, font=fit(text, WIDTH - MARGIN - 27), fill=AMBER, anchor="lm")
        return
    if s.inverter_stale or s.pv_w is None:
        icons.paste(image, "warning", (MARGIN, top + 1), 16, AMBER)
        text = age_text(s.pv_age_s)
        draw.text((MARGIN + 23, top + 9), text, font=fit(text, WIDTH - MARGIN - 27), fill=AMBER, anchor="lm")
        return
    colour = YELLOW if s.pv_w >= 50 else GREY
    icons.paste(image, "sun", (MARGIN, top), 18, colour)
    layout = sun_row_layout(s.pv_w, s.grid_w)
    draw.text((SUN_ROW_TEXT_LEFT, top + 9), layout.pv_text, font=layout.pv_font, fill=colour, anchor="lm")
    if layout.grid_text is None:
        return
    # The house's grid meter: + import, - export (what a meter display shows too).
    if layout.grid_word:
        draw.text((WIDTH - MARGIN, top + 9), f"grid {layout.grid_text}", font=layout.grid_font,
                  fill=LIGHT_BLUE, anchor="rm")
    else:
        # Short of room: a pylon says "grid" in less space.
        number_x = WIDTH - MARGIN - text_width(layout.grid_text, layout.grid_font)
        icons.paste(image, "grid", (int(number_x) - 13, top + 2), 14, LIGHT_BLUE)
        draw.text((WIDTH - MARGIN, top + 9), layout.grid_text, font=layout.grid_font, fill=LIGHT_BLUE, anchor="rm")


def sun_share_w(s: Snapshot) -> float:
    """How much of the budget comes from the sun (the yellow part of the bar)."""
    budget = max(0.0, s.budget_w)
    if s.inverter_stale or s.pv_w is None:
        return 0.0
    if s.mode == "fast":
        return min(budget, max(0.0, budget - s.allowance_w))
    return min(budget, max(0.0, s.pv_w))


def budget_bar(draw: ImageDraw.ImageDraw, s: Snapshot, top: int, height: int = 11) -> None:
    """The car's power against what it may draw: blue from the grid allowance, yellow from PV.

    The track shows the budget (dark), the fill shows the car's power (bright); a bright yellow
    fill means the car is running on sunshine.
    """
    left, right = MARGIN, WIDTH - MARGIN
    width = right - left
    budget = max(0.0, s.budget_w)
    full = max(budget, s.car_power_w, 1.0)
    sun = sun_share_w(s)
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


def progress_bar(draw: ImageDraw.ImageDraw, value_w: float, target_w: float, top: int) -> None:
    """How close the surplus is to what the car needs to start (yellow on dark yellow)."""
    left, right = MARGIN, WIDTH - MARGIN
    share = min(1.0, max(0.0, value_w) / max(target_w, 1.0))
    draw.rectangle((left, top, right, top + 9), fill=DARK_YELLOW)
    if share > 0:
        draw.rectangle((left, top, left + (right - left) * share, top + 9), fill=YELLOW)
    draw.rectangle((left - 1, top - 1, right + 1, top + 10), outline=GREY)


BATTERY_IDLE_W = 50.0


def battery_badge(image: Image.Image, draw: ImageDraw.ImageDraw, s: Snapshot, right: int, top: int) -> None:
    """The home battery at the top right: its charge as fill and percent, its flow as an arrow
    (down into the battery: charging, green; up out of it: discharging, amber)."""
    if s.battery_w is None and s.soc_pct is None:
        return
    flow_w = s.battery_w or 0.0  # + discharging, - charging (as Fronius reports it)
    charging, discharging = flow_w < -BATTERY_IDLE_W, flow_w > BATTERY_IDLE_W
    colour = GREEN if charging else AMBER if discharging else GREY
    body_w, body_h = 18, 10
    left = right - body_w - 3
    draw.rectangle((left, top, left + body_w, top + body_h), outline=colour, width=2)
    draw.rectangle((left + body_w + 1, top + 3, left + body_w + 2, top + body_h - 3), fill=colour)
    if s.soc_pct is not None:
        share = min(1.0, max(0.0, s.soc_pct / 100.0))
        if share > 0:
            draw.rectangle((left + 3, top + 3, left + 3 + (body_w - 6) * share, top + body_h - 3), fill=colour)
        label = f"{min(100.0, max(0.0, s.soc_pct)):.0f}%"
        draw.text((right, top + body_h + 9), label, font=font(12, condensed=True), fill=WHITE, anchor="rm")
    ax = left - 6
    if charging:  # an arrow down, into the battery
        draw.polygon(((ax - 4, top + 2), (ax + 4, top + 2), (ax, top + 9)), fill=colour)
    elif discharging:
        draw.polygon(((ax - 4, top + 9), (ax + 4, top + 9), (ax, top + 2)), fill=colour)
