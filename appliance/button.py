"""The front button: a short press pauses or resumes charging, holding it 2 s steps the mode.

The button switches the pin to ground; the pin's internal pull-up holds it high otherwise. The
hardware sits behind one narrow seam, `ButtonPin` (read the level, be told of edges); `GpioPin`
implements it with RPi.GPIO (or bookworm's rpi-lgpio shim, same API), `FakePin` in tests and in
the demo. Debouncing is done here, not by RPi.GPIO's `bouncetime`, which drops edges and can lose
a release: a level counts once it has held for `debounce_s` (50 ms), so contact bounce and short
spikes from the contactors in a distribution board are ignored.

Events and when they fire (t = when the contacts settle):
  on_press        button down, at t_down + debounce_s (wakes the backlight)
  on_long_press   still held at t_down + long_press_s (2 s): fires while held, so the user sees
                  the new mode and lets go; the release after it does nothing more
  on_short_press  released before long_press_s, at t_up + debounce_s

The service redraws the screen right after each callback (the command runs in its control cycle),
so a short press is confirmed on screen about 50 ms + one redraw after the release: well inside
the 0.3 s a person accepts as "it reacted".

Backlight: with `[display] backlight_timeout_s` > 0 the backlight goes dark that long after the
last press (`BacklightTimer`). Any press lights it again, and the press that wakes the screen
still does what it does: someone pressing to pause a charge in a dark cabinet expects it to
pause, and the screen lights up at once to show that it did. (Swallowing the waking press would
make a dark screen look like a broken button.)

`RPi.GPIO` is imported only when a real pin is opened (`[button] pin` > 0; 0 = no button).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Protocol

from .policy.types import NEXT_MODE, Mode

log = logging.getLogger(__name__)

DEBOUNCE_S = 0.05
LONG_PRESS_S = 2.0
# Deadlines are computed by adding seconds to clock readings; a deadline reached exactly must
# count as reached despite float rounding.
_EPSILON_S = 1e-6


def next_mode(mode: str) -> str:
    """The mode a long press switches to: fast -> pv -> minpv -> fast; from off, fast."""
    return str(NEXT_MODE.get(mode, Mode.FAST))


class ButtonPin(Protocol):
    """The seam between the button logic and the hardware."""

    def is_pressed(self) -> bool:
        """True while the button is held (the pin is pulled to ground)."""

    def set_edge_callback(self, callback: Callable[[], None] | None) -> None:
        """Call `callback` (from any thread) whenever the level may have changed."""

    def close(self) -> None:
        """Release the pin."""


class GpioPin:
    """A BCM-numbered input with the internal pull-up, via RPi.GPIO or rpi-lgpio."""

    def __init__(self, bcm_pin: int) -> None:
        try:
            import RPi.GPIO as GPIO
        except (ImportError, RuntimeError) as error:
            raise RuntimeError(
                f"The front button on BCM{bcm_pin} cannot be used: {error}. On the Pi install "
                f"RPi.GPIO (or rpi-lgpio on bookworm); without a button set [button] pin = 0."
            ) from error
        self._gpio = GPIO
        self.bcm_pin = bcm_pin
        GPIO.setmode(GPIO.BCM)
        GPIO.setup(bcm_pin, GPIO.IN, pull_up_down=GPIO.PUD_UP)
        self._edge_detect = False

    def is_pressed(self) -> bool:
        return self._gpio.input(self.bcm_pin) == self._gpio.LOW

    def set_edge_callback(self, callback: Callable[[], None] | None) -> None:
        if self._edge_detect:
            self._gpio.remove_event_detect(self.bcm_pin)
            self._edge_detect = False
        if callback is not None:
            # No bouncetime: every edge is reported and debounced in software.
            self._gpio.add_event_detect(self.bcm_pin, self._gpio.BOTH, callback=lambda _channel: callback())
            self._edge_detect = True

    def close(self) -> None:
        self.set_edge_callback(None)
        self._gpio.cleanup(self.bcm_pin)


class FakePin:
    """A button for tests and the demo: press, release and bounce it from code."""

    def __init__(self) -> None:
        self._pressed = False
        self._callback: Callable[[], None] | None = None
        self.closed = False

    def is_pressed(self) -> bool:
        return self._pressed

    def set_edge_callback(self, callback: Callable[[], None] | None) -> None:
        self._callback = callback

    def close(self) -> None:
        self.closed = True
        self._callback = None

    def set(self, pressed: bool) -> None:
        """Drive the level; an edge is reported when it changes."""
        if pressed != self._pressed:
            self._pressed = pressed
            if self._callback is not None:
                self._callback()

    def press(self) -> None:
        self.set(True)

    def release(self) -> None:
        self.set(False)


class PressDetector:
    """Debounce and press classification over timestamped edges; no threads, no clock.

    `edge(pressed, at_s)` records a level change; `update(now_s)` returns the events that have
    become certain by `now_s` ("press", "short", "long", "release", in order). Edges are kept
    until they are decided, so a late `update` still sees a press that has already ended.
    """

    def __init__(self, debounce_s: float = DEBOUNCE_S, long_press_s: float = LONG_PRESS_S) -> None:
        if debounce_s < 0 or long_press_s <= debounce_s:
            raise ValueError("The button needs 0 <= debounce_s < long_press_s.")
        self.debounce_s = debounce_s
        self.long_press_s = long_press_s
        self.pressed = False  # the debounced level
        self._edges: list[tuple[bool, float]] = []  # raw level changes not yet decided
        self._pressed_since_s = 0.0
        self._long_fired = False

    def start_held(self) -> None:
        """The button is down before anything was watched: ignore this press entirely."""
        self.pressed = True
        self._long_fired = True

    def edge(self, pressed: bool, at_s: float) -> None:
        last = self._edges[-1][0] if self._edges else self.pressed
        if pressed != last:
            self._edges.append((pressed, at_s))

    def update(self, now_s: float) -> list[str]:
        events: list[str] = []
        while self._edges:
            level, since_s = self._edges[0]
            until_s = self._edges[1][1] if len(self._edges) > 1 else now_s
            if until_s - since_s >= self.debounce_s - _EPSILON_S:
                self._settle(level, since_s, events)
            elif len(self._edges) == 1:
                break  # still bouncing: decide later
            self._edges.pop(0)  # decided, or a bounce/spike shorter than debounce_s
        if self.pressed and not self._long_fired and now_s - self._pressed_since_s >= self.long_press_s - _EPSILON_S:
            self._long_fired = True
            events.append("long")
        return events

    def _settle(self, level: bool, since_s: float, events: list[str]) -> None:
        if level == self.pressed:
            return
        if level:
            self.pressed = True
            self._pressed_since_s = since_s
            self._long_fired = False
            events.append("press")
        else:
            self.pressed = False
            if not self._long_fired:
                held_s = since_s - self._pressed_since_s
                events.append("long" if held_s >= self.long_press_s - _EPSILON_S else "short")
            events.append("release")

    def next_deadline_s(self) -> float | None:
        """When `update` may have something new to say (None: only after the next edge)."""
        if len(self._edges) > 1:
            return self._edges[1][1]  # already decidable
        if self._edges:
            return self._edges[0][1] + self.debounce_s
        if self.pressed and not self._long_fired:
            return self._pressed_since_s + self.long_press_s
        return None


Callback = Callable[[], None]


class Button:
    """The front button: calls the service's callbacks for presses on `pin`.

    Without `start()` nothing runs by itself: call `poll()` (tests do, with an injected clock).
    `start()` runs a small thread that sleeps until the next edge or deadline.
    """

    def __init__(
        self,
        pin: ButtonPin,
        on_short_press: Callback | None = None,
        on_long_press: Callback | None = None,
        on_press: Callback | None = None,
        *,
        debounce_s: float = DEBOUNCE_S,
        long_press_s: float = LONG_PRESS_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pin = pin
        self._callbacks = {"short": on_short_press, "long": on_long_press, "press": on_press}
        self._clock = clock
        self._detector = PressDetector(debounce_s, long_press_s)
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        pin.set_edge_callback(self._on_edge)
        if pin.is_pressed():
            # Held (or stuck, or wired to the wrong pin) at start: a stuck button must not
            # step the mode every start, so it counts only after it has been released.
            log.warning("The front button reads as pressed at start; it is ignored until released.")
            self._detector.start_held()

    def _on_edge(self) -> None:
        with self._changed:
            self._detector.edge(self.pin.is_pressed(), self._clock())
            self._changed.notify()

    def poll(self) -> list[str]:
        """Decide what the edges so far mean and call the callbacks; returns the events."""
        with self._changed:
            events = self._detector.update(self._clock())
        for event in events:
            callback = self._callbacks.get(event)
            if callback is None:
                continue
            try:
                callback()
            except Exception:
                log.exception("The front button's %s-press action failed; the button keeps working.", event)
        return events

    def next_deadline_s(self) -> float | None:
        with self._changed:
            return self._detector.next_deadline_s()

    def start(self) -> "Button":
        """Watch the button in a background thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="front-button", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            with self._changed:
                if self._stopping:
                    return
                deadline = self._detector.next_deadline_s()
                if deadline is None:
                    self._changed.wait()
                else:
                    timeout_s = deadline - self._clock()
                    if timeout_s > 0:
                        self._changed.wait(timeout_s)
                if self._stopping:
                    return
            self.poll()

    def close(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.pin.set_edge_callback(None)
        self.pin.close()


def open_button(
    pin: int,
    on_short_press: Callback | None = None,
    on_long_press: Callback | None = None,
    on_press: Callback | None = None,
    **options,
) -> Button | None:
    """The running front button on BCM `pin` ([button] pin), or None when pin is 0."""
    if not pin:
        return None
    return Button(GpioPin(pin), on_short_press, on_long_press, on_press, **options).start()


class BacklightTimer:
    """When the backlight is lit: for `timeout_s` after the last wake (0 = always on).

    Call `wake()` on every button press (and on anything else worth seeing, such as a car
    being plugged in or a new problem); put `is_on()` into the snapshot's backlight_on.
    """

    def __init__(self, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if timeout_s < 0:
            raise ValueError(f"[display] backlight_timeout_s is {timeout_s}; use 0 (always on) or more seconds.")
        self.timeout_s = timeout_s
        self._clock = clock
        self._woken_at_s = clock()

    def wake(self) -> bool:
        """Light the backlight (again) for timeout_s; True if it was dark until now."""
        was_dark = not self.is_on()
        self._woken_at_s = self._clock()
        return was_dark

    def is_on(self) -> bool:
        if self.timeout_s == 0:
            return True
        return self._clock() - self._woken_at_s < self.timeout_s

    def off_at_s(self) -> float | None:
        """Clock time at which the backlight goes dark; None: it stays on."""
        if self.timeout_s == 0:
            return None
        return self._woken_at_s + self.timeout_s
