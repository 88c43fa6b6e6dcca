"""The front button: debouncing, short and long presses, timing, the GPIO seam, the backlight."""

from __future__ import annotations

import sys
import threading
import types

import pytest

from appliance.button import (
    BacklightTimer,
    Button,
    FakePin,
    GpioPin,
    PressDetector,
    next_mode,
    open_button,
)

CONFIRM_WITHIN_S = 0.3  # the product's promise: the screen confirms a press within 0.3 s
REDRAW_BUDGET_S = 0.15  # render + SPI frame on a Pi Zero, measured by python -m display.bench


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


class Recorder:
    """Remembers which callback fired at which clock time."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, float]] = []

    def __getattr__(self, name: str):
        if not name.startswith("on_"):
            raise AttributeError(name)
        return lambda: self.calls.append((name[3:], self.clock()))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def _button(clock: Clock, pin: FakePin | None = None) -> tuple[Button, FakePin, Recorder]:
    pin = pin or FakePin()
    seen = Recorder(clock)
    button = Button(
        pin, on_short_press=seen.on_short, on_long_press=seen.on_long, on_press=seen.on_press, clock=clock
    )
    return button, pin, seen


def _advance(button: Button, clock: Clock, until_s: float) -> None:
    """Run time forward like the button's thread does: wake at each deadline and poll."""
    while True:
        deadline = button.next_deadline_s()
        if deadline is None or deadline > until_s:
            break
        clock.now_s = max(clock.now_s, deadline)
        button.poll()
    clock.now_s = until_s
    button.poll()


def _bounce_to(button: Button, clock: Clock, pin: FakePin, pressed: bool, flips: int = 4) -> None:
    """Contact bounce: the level flips every 1 ms before it settles at `pressed` (clock now)."""
    for i in range(flips):
        pin.set(pressed if i % 2 == 0 else not pressed)
        _advance(button, clock, clock.now_s + 0.001)
    pin.set(pressed)


def test_next_mode_cycles_fast_pv_minpv():
    assert next_mode("fast") == "pv"
    assert next_mode("pv") == "minpv"
    assert next_mode("minpv") == "fast"
    assert next_mode("off") == "fast"


def test_short_press_with_contact_bounce_counts_once_and_is_confirmed_in_time():
    clock = Clock()
    button, pin, seen = _button(clock)
    start = clock()
    _bounce_to(button, clock, pin, True)
    settled_down = clock()
    _advance(button, clock, start + 0.4)
    assert seen.names() == ["press"]
    assert seen.calls[0][1] == pytest.approx(settled_down + 0.05, abs=1e-6)

    _bounce_to(button, clock, pin, False)
    settled_up = clock()
    _advance(button, clock, settled_up + 1.0)
    assert seen.names() == ["press", "short"]
    reported_after_s = seen.calls[1][1] - settled_up
    assert reported_after_s == pytest.approx(0.05, abs=1e-6)
    assert reported_after_s + REDRAW_BUDGET_S <= CONFIRM_WITHIN_S


def test_long_press_fires_while_held_and_the_release_does_nothing_more():
    clock = Clock()
    button, pin, seen = _button(clock)
    _bounce_to(button, clock, pin, True)
    down = clock()
    _advance(button, clock, down + 1.9)
    assert seen.names() == ["press"]
    _advance(button, clock, down + 3.0)
    assert seen.names() == ["press", "long"]
    assert seen.calls[1][1] == pytest.approx(down + 2.0, abs=1e-6)
    _bounce_to(button, clock, pin, False)
    _advance(button, clock, clock() + 1.0)
    assert seen.names() == ["press", "long"]


def test_spikes_shorter_than_the_debounce_time_are_ignored():
    clock = Clock()
    button, pin, seen = _button(clock)
    for _ in range(20):
        pin.press()
        _advance(button, clock, clock() + 0.02)
        pin.release()
        _advance(button, clock, clock() + 0.2)
    assert seen.calls == []


def test_a_press_that_ended_before_a_late_poll_is_still_reported():
    clock = Clock()
    button, pin, seen = _button(clock)
    pin.press()
    clock.now_s += 0.3
    pin.release()
    clock.now_s += 0.5
    button.poll()
    assert seen.names() == ["press", "short"]

    pin.press()
    clock.now_s += 2.5
    pin.release()
    clock.now_s += 0.5
    button.poll()
    assert seen.names() == ["press", "short", "press", "long"]


def test_a_button_held_at_start_counts_only_after_release():
    clock = Clock()
    pin = FakePin()
    pin.press()
    button, pin, seen = _button(clock, pin)
    _advance(button, clock, clock() + 5.0)
    pin.release()
    _advance(button, clock, clock() + 1.0)
    assert seen.calls == []
    pin.press()
    _advance(button, clock, clock() + 0.2)
    pin.release()
    _advance(button, clock, clock() + 0.2)
    assert seen.names() == ["press", "short"]


def test_a_failing_action_does_not_stop_the_button():
    clock = Clock()
    pin = FakePin()
    presses = []

    def broken():
        raise RuntimeError("boom")

    button = Button(pin, on_short_press=lambda: presses.append(clock()), on_press=broken, clock=clock)
    for _ in range(2):
        pin.press()
        _advance(button, clock, clock() + 0.2)
        pin.release()
        _advance(button, clock, clock() + 0.2)
    assert len(presses) == 2


def test_detector_settings_are_checked():
    with pytest.raises(ValueError):
        PressDetector(debounce_s=0.5, long_press_s=0.1)


def test_the_thread_reports_presses_with_the_real_clock():
    pin = FakePin()
    pressed, short = threading.Event(), threading.Event()
    button = Button(pin, on_short_press=short.set, on_press=pressed.set).start()
    try:
        pin.press()
        assert pressed.wait(5), "the press was not reported"
        assert not short.is_set()
        pin.release()
        assert short.wait(5), "the short press was not reported"
    finally:
        button.close()
    assert pin.closed


class FakeGpio(types.ModuleType):
    """RPi.GPIO at the kernel seam: the pin's level and the registered edge callback."""

    BCM, IN, PUD_UP, BOTH, LOW, HIGH = "BCM", "IN", "PUD_UP", "BOTH", 0, 1

    def __init__(self) -> None:
        super().__init__("RPi.GPIO")
        self.level = self.HIGH
        self.calls: list[tuple] = []
        self.callback = None

    def setmode(self, mode):
        self.calls.append(("setmode", mode))

    def setup(self, pin, direction, pull_up_down=None):
        self.calls.append(("setup", pin, direction, pull_up_down))

    def input(self, pin):
        return self.level

    def add_event_detect(self, pin, edge, callback=None, bouncetime=None):
        self.calls.append(("add_event_detect", pin, edge, bouncetime))
        self.callback = callback

    def remove_event_detect(self, pin):
        self.calls.append(("remove_event_detect", pin))
        self.callback = None

    def cleanup(self, pin=None):
        self.calls.append(("cleanup", pin))

    def drive(self, pin, level):
        self.level = level
        if self.callback:
            self.callback(pin)


@pytest.fixture
def gpio(monkeypatch):
    fake = FakeGpio()
    package = types.ModuleType("RPi")
    package.GPIO = fake
    monkeypatch.setitem(sys.modules, "RPi", package)
    monkeypatch.setitem(sys.modules, "RPi.GPIO", fake)
    return fake


def test_gpio_pin_uses_the_pull_up_and_reports_every_edge(gpio):
    pin = GpioPin(21)
    assert ("setmode", "BCM") in gpio.calls
    assert ("setup", 21, "IN", "PUD_UP") in gpio.calls
    assert pin.is_pressed() is False
    gpio.level = gpio.LOW
    assert pin.is_pressed() is True
    edges = []
    pin.set_edge_callback(lambda: edges.append(pin.is_pressed()))
    assert ("add_event_detect", 21, "BOTH", None) in gpio.calls
    gpio.drive(21, gpio.HIGH)
    assert edges == [False]
    pin.close()
    assert ("remove_event_detect", 21) in gpio.calls and ("cleanup", 21) in gpio.calls


def test_open_button_on_a_real_pin_number_runs_end_to_end(gpio):
    short, long_ = threading.Event(), threading.Event()
    button = open_button(21, on_short_press=short.set, on_long_press=long_.set, long_press_s=0.3)
    try:
        gpio.drive(21, gpio.LOW)
        gpio.drive(21, gpio.HIGH)  # bounce
        gpio.drive(21, gpio.LOW)
        assert long_.wait(5), "holding the button did not step the mode"
        gpio.drive(21, gpio.HIGH)
        gpio.drive(21, gpio.LOW)
        gpio.drive(21, gpio.HIGH)
        assert not short.wait(0.2)  # a bounce after the long press is not a short press
    finally:
        button.close()


def test_no_button_when_pin_is_zero():
    assert open_button(0, on_short_press=lambda: None) is None


def test_gpio_pin_without_the_library_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "RPi", None)
    with pytest.raises(RuntimeError, match=r"\[button\] pin = 0"):
        GpioPin(21)


def test_backlight_goes_dark_after_the_timeout_and_any_press_wakes_it():
    clock = Clock()
    backlight = BacklightTimer(30, clock=clock)
    assert backlight.is_on()
    assert backlight.off_at_s() == clock() + 30
    clock.now_s += 29.9
    assert backlight.is_on()
    assert backlight.wake() is False  # was lit: nothing to wake, timer restarts
    clock.now_s += 30.1
    assert not backlight.is_on()
    assert backlight.wake() is True
    assert backlight.is_on()


def test_backlight_timeout_zero_means_always_on():
    clock = Clock()
    backlight = BacklightTimer(0, clock=clock)
    clock.now_s += 1e6
    assert backlight.is_on() and backlight.off_at_s() is None
    with pytest.raises(ValueError, match="backlight_timeout_s"):
        BacklightTimer(-1, clock=clock)


def test_the_press_that_wakes_the_dark_screen_still_pauses():
    clock = Clock()
    backlight = BacklightTimer(30, clock=clock)
    paused = []
    pin = FakePin()
    button = Button(pin, on_short_press=lambda: paused.append(backlight.is_on()), on_press=backlight.wake, clock=clock)
    clock.now_s += 60
    assert not backlight.is_on()
    pin.press()
    _advance(button, clock, clock() + 0.2)
    assert backlight.is_on()
    pin.release()
    _advance(button, clock, clock() + 0.2)
    assert paused == [True]  # paused, and the screen was lit to show it
