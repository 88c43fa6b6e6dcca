"""How long a frame costs: render + RGB565 packing, per sample screen.

    python -m display.bench [--frames N]

Prints milliseconds per frame beside the 5 ms target (render + conversion on the Pi Zero), the
st7735 library's own conversion for comparison, and the SPI transfer time a frame takes at the
configured clock (computed: 40960 bytes x 8 bits / spi_speed_hz).
"""

from __future__ import annotations

import argparse
import platform
import time

from display import rgb565
from display.samples import samples
from display.screens import render

TARGET_MS = 5.0


def _per_frame_ms(fn, frames: int) -> float:
    for _ in range(20):  # warm up: imports, font loading, caches
        fn()
    start = time.perf_counter()
    for _ in range(frames):
        fn()
    return (time.perf_counter() - start) / frames * 1000.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m display.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200, help="frames per measurement (default 200)")
    parser.add_argument("--spi-speed-hz", type=int, default=4_000_000, help="SPI clock for the transfer estimate")
    args = parser.parse_args(argv)

    snapshots = list(samples().values())
    images = [render(s) for s in snapshots]
    n = args.frames
    counter = iter(range(10**9))

    def pick(seq):
        return seq[next(counter) % len(seq)]

    render_ms = _per_frame_ms(lambda: render(pick(snapshots)), n)
    numpy_ms = _per_frame_ms(lambda: rgb565.to_rgb565_numpy(rgb565.rotate(pick(images), 90)), n)
    pillow_ms = _per_frame_ms(lambda: rgb565.to_rgb565_pillow(rgb565.rotate(pick(images), 90)), n)
    total_ms = _per_frame_ms(lambda: rgb565.to_rgb565(render(pick(snapshots)), 90), n)

    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}".rstrip())
    print(f"render (PIL, {len(snapshots)} sample screens)   {render_ms:7.2f} ms/frame")
    print(f"RGB565 packing, numpy                {numpy_ms:7.2f} ms/frame")
    print(f"RGB565 packing, Pillow only          {pillow_ms:7.2f} ms/frame")
    verdict = "within" if total_ms <= TARGET_MS else "OVER"
    print(f"render + packing (as the panel runs) {total_ms:7.2f} ms/frame   target {TARGET_MS:.1f} ms: {verdict}")
    try:
        import st7735  # noqa: F401  (only for comparison; needs spidev/gpiod importable)
    except Exception:
        print("st7735 library conversion             (library not importable here)")
    else:
        lib_ms = _per_frame_ms(lambda: st7735.image_to_data(pick(images), 90), max(10, n // 10))
        print(f"st7735 library's own conversion      {lib_ms:7.2f} ms/frame (a list of ints, for comparison)")
    spi_ms = 160 * 128 * 2 * 8 / args.spi_speed_hz * 1000
    print(f"SPI transfer at {args.spi_speed_hz / 1e6:g} MHz (computed)       {spi_ms:7.2f} ms/frame")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
