"""The LCD backend with fakes only at the kernel seam: a fake `spidev` (the bytes that would go
down the SPI bus) and fake `gpiod`/`gpiodevice` (the values the DC, reset and backlight lines
would take). Pimoroni's st7735 library, bound to the same fakes, is the reference for the set-up
sequence and the pixel packing; the backend itself does not use it (it imports numpy)."""

from __future__ import annotations

import enum
import importlib
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
from PIL import Image

DC, RST, BL = 25, 27, 18

SWRESET, SLPOUT, NORON, INVOFF, INVON, DISPOFF, DISPON = 0x01, 0x11, 0x13, 0x20, 0x21, 0x28, 0x29
CASET, RASET, RAMWR, MADCTL, COLMOD = 0x2A, 0x2B, 0x2C, 0x36, 0x3A
FRMCTR1, FRMCTR2, FRMCTR3, INVCTR = 0xB1, 0xB2, 0xB3, 0xB4
PWCTR1, PWCTR2, PWCTR4, PWCTR5, VMCTR1 = 0xC0, 0xC1, 0xC3, 0xC4, 0xC5
GMCTRP1, GMCTRN1 = 0xE0, 0xE1


class Bus:
    """What happened on the wires, in order: ("gpio", line, level) and ("spi", bytes)."""

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.spi_devices: list = []

    def level(self, line: int) -> bool | None:
        for kind, *rest in reversed(self.events):
            if kind == "gpio" and rest[0] == line:
                return rest[1]
        return None

    def gpio_history(self, line: int) -> list[bool]:
        return [e[2] for e in self.events if e[0] == "gpio" and e[1] == line]

    def transactions(self, since: int = 0) -> list[tuple[int, bytes]]:
        """SPI traffic split at the DC line: [(command, parameter/pixel bytes), ...]."""
        dc = None
        out: list[list] = []
        for index, event in enumerate(self.events):
            if event[0] == "gpio" and event[1] == DC:
                dc = event[2]
            elif event[0] == "spi" and index >= since:
                if dc is False:
                    for byte in event[1]:
                        out.append([byte, bytearray()])
                elif dc is True:
                    assert out, "data was sent before any command"
                    out[-1][1] += event[1]
                else:
                    raise AssertionError("SPI bytes were sent before the DC line was driven")
        return [(cmd, bytes(data)) for cmd, data in out]

    def spi_writes(self, since: int = 0) -> list[bytes]:
        return [e[1] for e in self.events[since:] if e[0] == "spi"]


def _fake_modules(bus: Bus) -> dict[str, types.ModuleType]:
    spidev = types.ModuleType("spidev")

    class FakeSpiDev:
        def __init__(self, port=None, cs=None):
            self.port, self.cs = port, cs
            self.mode = None
            self.lsbfirst = None
            self.max_speed_hz = None
            bus.spi_devices.append(self)

        def _record(self, data):
            if isinstance(data, int):
                data = [data]
            payload = bytes(data)  # what the kernel would clock out
            assert payload, "an empty SPI transfer"
            bus.events.append(("spi", payload))
            return payload

        def xfer3(self, data, *args):
            return list(self._record(data))

        xfer = xfer2 = xfer3

        def writebytes(self, data):
            self._record(data)

        writebytes2 = writebytes

        def close(self):
            pass

    spidev.SpiDev = FakeSpiDev

    gpiod = types.ModuleType("gpiod")
    line = types.ModuleType("gpiod.line")

    class Direction(enum.Enum):
        INPUT = 1
        OUTPUT = 2

    class Value(enum.Enum):
        INACTIVE = 0
        ACTIVE = 1

    line.Direction, line.Value = Direction, Value

    class LineSettings:
        def __init__(self, direction=None, output_value=None, **extra):
            self.direction, self.output_value = direction, output_value

    gpiod.LineSettings = LineSettings
    gpiod.line = line

    gpiodevice = types.ModuleType("gpiodevice")
    gpiodevice.friendly_errors = False

    class Lines:
        def set_value(self, offset, value):
            bus.events.append(("gpio", offset, value is Value.ACTIVE))

    def get_pin(pin, label, settings):
        assert settings.direction is Direction.OUTPUT
        bus.events.append(("gpio", pin, settings.output_value is Value.ACTIVE))
        return Lines(), pin

    gpiodevice.get_pin = get_pin
    return {"spidev": spidev, "gpiod": gpiod, "gpiod.line": line, "gpiodevice": gpiodevice}


@pytest.fixture
def bus(monkeypatch):
    wires = Bus()
    for name, module in _fake_modules(wires).items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delitem(sys.modules, "st7735", raising=False)
    try:
        st7735 = importlib.import_module("st7735")  # the real library, bound to the fakes
    except ImportError as error:
        pytest.fail(f"These tests drive the real st7735 library, which is missing ({error}): "
                    f"pip install st7735 (it belongs in pyproject's test extra).")
    # The panel waits for resets; the fake panel needs no waiting.
    wires.sleeps = []
    monkeypatch.setattr(st7735, "time", types.SimpleNamespace(sleep=wires.sleeps.append))
    import display.panel_st7735

    monkeypatch.setattr(display.panel_st7735, "sleep", wires.sleeps.append)
    wires.st7735 = st7735
    yield wires
    monkeypatch.delitem(sys.modules, "st7735", raising=False)


def _make(**options):
    from display.backends import make_backend

    return make_backend("st7735", **options)


def _test_picture() -> Image.Image:
    """A 160x128 picture with every pixel different and the corners marked."""
    image = Image.new("RGB", (160, 128))
    image.putdata([((x * 7 + y) & 0xFF, (y * 5 + x * 3) & 0xFF, (x ^ y) & 0xFF) for y in range(128) for x in range(160)])
    image.putpixel((159, 0), (255, 0, 0))  # top right: red
    image.putpixel((0, 127), (0, 0, 255))  # bottom left: blue
    image.putpixel((0, 0), (0, 255, 0))  # top left: green
    return image


def test_init_sequence_window_and_spi_settings(bus):
    _make()
    assert len(bus.spi_devices) == 1
    spi = bus.spi_devices[0]
    assert (spi.port, spi.cs, spi.mode, spi.lsbfirst, spi.max_speed_hz) == (0, 0, 0, False, 4_000_000)
    # Backlight blinks off then on; the reset line is pulsed high-low-high.
    assert bus.gpio_history(BL) == [False, False, True]
    assert bus.gpio_history(RST) == [False, True, False, True]

    commands = bus.transactions()
    assert [cmd for cmd, _ in commands] == [
        SWRESET, SLPOUT, FRMCTR1, FRMCTR2, FRMCTR3, INVCTR, PWCTR1, PWCTR2, PWCTR4, PWCTR5,
        VMCTR1, INVON, MADCTL, COLMOD, CASET, RASET, GMCTRP1, GMCTRN1, NORON, DISPON,
    ]
    params = dict(commands)
    assert params[MADCTL] == bytes([0xC8])  # row/column order, BGR colour order
    assert params[COLMOD] == bytes([0x05])  # 16 bits per pixel
    # 128 columns centred in the controller's 132 (offset 2), 160 rows in 162 (offset 1).
    assert params[CASET] == bytes([0, 2, 0, 129])
    assert params[RASET] == bytes([0, 1, 0, 160])
    assert len(params[GMCTRP1]) == len(params[GMCTRN1]) == 16


def test_invert_bgr_and_offsets_are_configurable(bus):
    _make(invert=False, bgr=False, offset_left=0, offset_top=3, spi_speed_hz=16_000_000)
    commands = bus.transactions()
    cmds = [cmd for cmd, _ in commands]
    assert INVOFF in cmds and INVON not in cmds
    params = dict(commands)
    assert params[MADCTL] == bytes([0xC0])
    assert params[CASET] == bytes([0, 0, 0, 127])
    assert params[RASET] == bytes([0, 3, 0, 162])
    assert bus.spi_devices[0].max_speed_hz == 16_000_000


def test_frame_is_40960_big_endian_rgb565_bytes_in_the_panels_orientation(bus):
    panel = _make(offset_left=1, offset_top=2)
    assert panel.size == (160, 128)
    picture = _test_picture()
    mark = len(bus.events)
    assert panel.show(picture) is True

    frame_commands = bus.transactions(mark)
    assert [cmd for cmd, _ in frame_commands] == [CASET, RASET, RAMWR]
    assert frame_commands[0][1] == bytes([0, 1, 0, 128])  # columns 1..128
    assert frame_commands[1][1] == bytes([0, 2, 0, 161])  # rows 2..161
    pixels = frame_commands[2][1]
    assert len(pixels) == 40960
    # The library's own (slow) conversion is the reference for orientation and packing.
    assert pixels == bytes(bus.st7735.image_to_data(picture, 90))
    # By hand: rotated 90 degrees, the picture's top-right pixel (red) is sent first and its
    # bottom-left pixel (blue) last; RGB565 big-endian: red F800, blue 001F.
    assert pixels[:2] == bytes([0xF8, 0x00])
    assert pixels[-2:] == bytes([0x00, 0x1F])
    # The picture's top-left pixel (green, 07E0) starts the panel's last row (row 159).
    assert pixels[159 * 128 * 2:159 * 128 * 2 + 2] == bytes([0x07, 0xE0])
    # Sent in chunks no larger than the chunk size.
    frame_writes = [w for w in bus.spi_writes(mark) if len(w) > 4]
    assert len(frame_writes) == 10 and all(len(w) == 4096 for w in frame_writes)


def test_other_rotation_matches_the_library(bus):
    panel = _make(rotation=270)
    picture = _test_picture()
    mark = len(bus.events)
    panel.show(picture)
    assert bus.transactions(mark)[2][1] == bytes(bus.st7735.image_to_data(picture, 270))


def test_unchanged_picture_is_not_sent_again(bus):
    panel = _make()
    picture = _test_picture()
    assert panel.show(picture) is True
    mark = len(bus.events)
    assert panel.show(picture.copy()) is False
    assert bus.spi_writes(mark) == []


def test_one_changed_pixel_goes_out_as_a_one_pixel_window(bus):
    panel = _make(offset_left=2, offset_top=1)
    picture = _test_picture()
    panel.show(picture)
    picture.putpixel((80, 64), (0xFF, 0x04, 0x10))
    mark = len(bus.events)
    assert panel.show(picture) is True
    # Turned 90 degrees counter-clockwise, picture pixel (x, y) is panel column y, row 159 - x.
    column, row = 64 + 2, 159 - 80 + 1
    assert bus.transactions(mark) == [
        (CASET, bytes([0, column, 0, column])),
        (RASET, bytes([0, row, 0, row])),
        (RAMWR, bytes([0xF8, 0x22])),  # RRRRRGGG GGGBBBBB: 11111 000001 00010
    ]
    assert sum(len(w) for w in bus.spi_writes(mark)) == 13


def test_changes_far_apart_go_out_as_separate_windows_with_the_right_pixels(bus):
    panel = _make(offset_left=0, offset_top=0)
    before = Image.new("RGB", (160, 128), (0, 0, 0))
    panel.show(before)
    after = before.copy()
    after.paste((255, 255, 255), (150, 0, 160, 10))    # top right: 10 x 10
    after.paste((0, 0, 255), (0, 100, 20, 128))         # bottom left: 20 x 28
    mark = len(bus.events)
    panel.show(after)
    windows = bus.transactions(mark)
    assert [cmd for cmd, _ in windows] == [CASET, RASET, RAMWR] * 2
    sent = [(windows[i][1], windows[i + 1][1], windows[i + 2][1]) for i in (0, 3)]
    # Panel coordinates: picture (x, y) is column y, row 159 - x.
    assert sent[0] == (bytes([0, 0, 0, 9]), bytes([0, 0, 0, 9]), bytes([0xFF, 0xFF]) * 100)
    assert sent[1] == (bytes([0, 100, 0, 127]), bytes([0, 140, 0, 159]), bytes([0x00, 0x1F]) * 560)
    assert panel.bytes_sent == (11 + 40960) + (11 + 200) + (11 + 1120)  # window commands + pixels


def test_a_typical_update_sends_a_fraction_of_a_frame(bus):
    from display.samples import samples
    from display.screens import render

    charging = samples()["charging_pv"]
    panel = _make()
    panel.show(render(charging))
    mark = len(bus.events)
    panel.show(render(charging.replace(car_power_w=(charging.car_power_w or 0) + 230.0)))
    sent = sum(len(w) for w in bus.spi_writes(mark))
    assert 0 < sent <= 10240


def test_the_panel_path_never_imports_numpy(tmp_path):
    """Made, shown a picture twice, switched off: numpy is not in sys.modules afterwards."""
    script = textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[1])
        import test_display_st7735 as t
        bus = t.Bus()
        sys.modules.update(t._fake_modules(bus))
        import display.panel_st7735
        display.panel_st7735.sleep = lambda s: None
        from display.backends import make_backend
        from display.samples import samples
        from display.screens import render
        panel = make_backend("st7735")
        shots = list(samples().values())
        panel.show(render(shots[0]))
        panel.show(render(shots[1]))
        panel.close()
        assert bus.spi_writes(), "nothing went down the SPI bus"
        print("numpy" in sys.modules)
    """)
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent)], cwd=root,
                         capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(root)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_backlight_and_close(bus):
    panel = _make()
    panel.set_backlight(False)
    assert bus.level(BL) is False
    panel.set_backlight(True)
    assert bus.level(BL) is True
    mark = len(bus.events)
    panel.close()
    assert bus.level(BL) is False
    assert [cmd for cmd, _ in bus.transactions(mark)] == [DISPOFF]


def test_wrong_picture_size_is_refused(bus):
    panel = _make()
    with pytest.raises(ValueError, match="160x128"):
        panel.show(Image.new("RGB", (128, 160)))


def test_bad_rotation_is_refused_before_touching_hardware(bus):
    with pytest.raises(ValueError, match="rotation"):
        _make(rotation=45)
    assert bus.events == []
