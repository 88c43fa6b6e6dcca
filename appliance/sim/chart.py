"""The chart of a simulated day (`wallbox simulate --chart FILE.png`): PV, house, car and the
car's limit (allowance + PV) over the hours, drawn with Pillow."""

from __future__ import annotations

import math
from pathlib import Path

from ..config import Settings
from .day import Day
from .simulate import DayResult



WIDTH, HEIGHT = 1200, 560
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 50, 80
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


class _Frame:
    """Seconds and watts -> pixels."""

    def __init__(self, day: Day, top_kw: int):
        self.start_s, self.n, self.top_kw = day.start_s, day.end_s - day.start_s, top_kw

    def x(self, t_s: float) -> float:
        return LEFT + (t_s - self.start_s) / self.n * PLOT_W

    def y(self, watts: float) -> float:
        return TOP + PLOT_H - watts / (self.top_kw * 1000) * PLOT_H


def _axes(d, day: Day, f: _Frame, small) -> None:
    """Grid lines with kW and hour labels, and the plot's frame."""
    kw_step = 2 if f.top_kw <= 24 else 4
    for kw in range(0, f.top_kw + 1, kw_step):
        y = f.y(kw * 1000)
        d.line([(LEFT, y), (LEFT + PLOT_W, y)], fill=(225, 225, 225))
        d.text((LEFT - 8, y), f"{kw} kW", fill="black", font=small, anchor="rm")
    first_h, last_h = math.ceil(day.start_s / 3600), math.floor(day.end_s / 3600)
    hour_step = 2 if last_h - first_h > 12 else 1
    for h in range(first_h, last_h + 1, hour_step):
        x = f.x(h * 3600)
        d.line([(x, TOP), (x, TOP + PLOT_H)], fill=(235, 235, 235))
        d.text((x, TOP + PLOT_H + 6), f"{h:02d}:00", fill="black", font=small, anchor="mt")
    d.rectangle([LEFT, TOP, LEFT + PLOT_W, TOP + PLOT_H], outline="black")


def _column_means(series: list[float], n: int) -> list[float]:
    """One value per pixel column: the mean of its seconds (peaks of a few seconds are thinner)."""
    cols = int(PLOT_W)
    out = []
    for c in range(cols):
        a, b = c * n // cols, max(c * n // cols + 1, (c + 1) * n // cols)
        out.append(sum(series[a:b]) / (b - a))
    return out


def _series(d, day: Day, result: DayResult, f: _Frame, allowance_w: float) -> None:
    pv, house, car = (_column_means(s, f.n) for s in (day.pv_w, day.house_w, result.car_w))
    xs = [LEFT + c + 0.5 for c in range(int(PLOT_W))]
    for values, fill in ((pv, (255, 226, 120)), (car, (150, 190, 245))):
        d.polygon([(xs[0], f.y(0))] + [(x, f.y(v)) for x, v in zip(xs, values)] + [(xs[-1], f.y(0))],
                  fill=fill)
    d.line([(x, f.y(v)) for x, v in zip(xs, pv)], fill=(230, 160, 0), width=2)
    d.line([(x, f.y(v)) for x, v in zip(xs, house)], fill=(90, 90, 90), width=2)
    d.line([(x, f.y(v)) for x, v in zip(xs, car)], fill=(20, 80, 200), width=2)
    d.line([(x, f.y(v + allowance_w)) for x, v in zip(xs, pv)], fill=(210, 30, 30), width=2)


def _texts(d, day: Day, result: DayResult, allowance_w: float, title: str | None, font, small) -> None:
    head = title or f"{day.name}: {result.mode} mode, pushes every {result.step_s} s"
    d.text((LEFT, 14), head, fill="black", font=font)
    figures = (f"car {result.car_kwh:.1f} kWh, of it PV {result.pv_to_car_kwh:.1f} kWh; "
               f"PV unused {result.pv_unused_kwh:.1f} kWh; starts {result.starts}")
    d.text((LEFT + PLOT_W, 14), figures, fill="black", font=small, anchor="ra")
    legend = [((255, 226, 120), "PV"), ((90, 90, 90), "house"), ((20, 80, 200), "car (wallbox)"),
              ((210, 30, 30), f"allowance {allowance_w / 1000:g} kW + PV: the car's limit")]
    x, y = LEFT, HEIGHT - 28
    for colour, label in legend:
        d.rectangle([x, y - 7, x + 22, y + 7], fill=colour)
        d.text((x + 30, y), label, fill="black", font=font, anchor="lm")
        x += 40 + d.textlength(label, font=font) + 20


def draw_chart(day: Day, result: DayResult, path: str | Path, settings: Settings,
               title: str | None = None) -> Path:
    """The day as a PNG (Pillow): PV, house, car, allowance + PV; hours and kW on the axes."""
    from PIL import Image, ImageDraw, ImageFont

    allowance_w = settings.grid.allowance_w
    top_w = max(max(day.pv_w) + allowance_w, max(result.car_w or [0.0]), max(day.house_w)) * 1.05
    frame = _Frame(day, max(2, math.ceil(top_w / 2000) * 2))
    font = ImageFont.load_default(size=15)
    small = ImageFont.load_default(size=13)
    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    d = ImageDraw.Draw(img)
    _axes(d, day, frame, small)
    _series(d, day, result, frame, allowance_w)
    _texts(d, day, result, allowance_w, title, font, small)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
