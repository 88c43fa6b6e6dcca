"""The bench's table, as Markdown so it can go into the README as it is."""

from __future__ import annotations

import math
import os
import platform


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "not measured"
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model or platform.processor()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def table(figures, factor: float) -> str:
    lines = [f"Machine: {machine()}. Pi Zero W estimate: CPU-bound parts x{factor:g}.", "",
             "| figure | value | target | met | Pi Zero W estimate | note |",
             "|---|---|---|---|---|---|"]
    for f in figures:
        sign = ">=" if f.higher_is_better else "<="
        est = "" if f.pi_zero is None else f"{_fmt(f.pi_zero)} {f.unit}"
        value = _fmt(f.value) if math.isinf(f.value) else f"{_fmt(f.value)} {f.unit}"
        lines.append(f"| {f.name} | {value} | {sign} {_fmt(f.target)} {f.unit} | "
                     f"{'yes' if f.met else 'NO'} | {est} | {f.note} |")
    return "\n".join(lines)
