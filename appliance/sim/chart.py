"""The chart of a simulated day (`wallbox simulate --chart FILE.png`): PV, house, car and the
car's limit (allowance + PV) over the hours, drawn with Pillow."""

from __future__ import annotations

import math
from pathlib import Path

from ..config import Settings
from .day import Day
from .simulate import DayResult



def draw_chart(day: Day, result: DayResult, path: str | Path, settings: Settings,
               title: str | None = None) -> Path:
    """The day as a PNG (Pillow): PV, house, car, allowance + PV; hours and kW on the axes."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = 1200, 560
    left, right, top, bottom = 70, 20, 50, 80
    plot_w, plot_h = width - left - right, height - top - bottom
    allowance_w = settings.grid.allowance_w
    n = day.end_s - day.start_s
    top_w = max(max(day.pv_w) + allowance_w, max(result.car_w or [0.0]), max(day.house_w)) * 1.05
    top_kw = max(2, math.ceil(top_w / 2000) * 2)
    font = ImageFont.load_default(size=15)
    small = ImageFont.load_default(size=13)
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)

    def x_of(t_s: float) -> float:
        return left + (t_s - day.start_s) / n * plot_w

    def y_of(watts: float) -> float:
        return top + plot_h - watts / (top_kw * 1000) * plot_h

    # Grid lines and labels.
    kw_step = 2 if top_kw <= 24 else 4
    for kw in range(0, top_kw + 1, kw_step):
        y = y_of(kw * 1000)
        d.line([(left, y), (left + plot_w, y)], fill=(225, 225, 225))
        d.text((left - 8, y), f"{kw} kW", fill="black", font=small, anchor="rm")
    first_h, last_h = math.ceil(day.start_s / 3600), math.floor(day.end_s / 3600)
    hour_step = 2 if last_h - first_h > 12 else 1
    for h in range(first_h, last_h + 1, hour_step):
        x = x_of(h * 3600)
        d.line([(x, top), (x, top + plot_h)], fill=(235, 235, 235))
        d.text((x, top + plot_h + 6), f"{h:02d}:00", fill="black", font=small, anchor="mt")
    d.rectangle([left, top, left + plot_w, top + plot_h], outline="black")

    # One value per pixel column: the mean of its seconds (peaks of a few seconds are thinner).
    cols = int(plot_w)

    def column_means(series: list[float]) -> list[float]:
        out = []
        for c in range(cols):
            a, b = c * n // cols, max(c * n // cols + 1, (c + 1) * n // cols)
            out.append(sum(series[a:b]) / (b - a))
        return out

    pv, house, car = column_means(day.pv_w), column_means(day.house_w), column_means(result.car_w)
    xs = [left + c + 0.5 for c in range(cols)]
    pv_poly = [(xs[0], y_of(0))] + [(x, y_of(v)) for x, v in zip(xs, pv)] + [(xs[-1], y_of(0))]
    d.polygon(pv_poly, fill=(255, 226, 120))
    car_poly = [(xs[0], y_of(0))] + [(x, y_of(v)) for x, v in zip(xs, car)] + [(xs[-1], y_of(0))]
    d.polygon(car_poly, fill=(150, 190, 245))
    d.line([(x, y_of(v)) for x, v in zip(xs, pv)], fill=(230, 160, 0), width=2)
    d.line([(x, y_of(v)) for x, v in zip(xs, house)], fill=(90, 90, 90), width=2)
    d.line([(x, y_of(v)) for x, v in zip(xs, car)], fill=(20, 80, 200), width=2)
    d.line([(x, y_of(v + allowance_w)) for x, v in zip(xs, pv)], fill=(210, 30, 30), width=2)

    head = title or f"{day.name}: {result.mode} mode, pushes every {result.step_s} s"
    d.text((left, 14), head, fill="black", font=font)
    figures = (f"car {result.car_kwh:.1f} kWh, of it PV {result.pv_to_car_kwh:.1f} kWh; "
               f"PV unused {result.pv_unused_kwh:.1f} kWh; starts {result.starts}")
    d.text((left + plot_w, 14), figures, fill="black", font=small, anchor="ra")
    legend = [((255, 226, 120), "PV"), ((90, 90, 90), "house"), ((20, 80, 200), "car (wallbox)"),
              ((210, 30, 30), f"allowance {allowance_w / 1000:g} kW + PV: the car's limit")]
    x = left
    y = height - 28
    for colour, label in legend:
        d.rectangle([x, y - 7, x + 22, y + 7], fill=colour)
        d.text((x + 30, y), label, fill="black", font=font, anchor="lm")
        x += 40 + d.textlength(label, font=font) + 20
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


