"""What the front panel shows: one plain, immutable status record.

The service fills a `Snapshot` from its own state once per cycle (and right after a button
press) and hands it to `display.screens.render`. Only plain values live here, so the screens can
be drawn, tested and previewed without the service, the wallbox or the inverter.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

MODES = ("fast", "pv", "minpv", "off")
LINK_KINDS = ("rtu", "tcp", "meter")
WAITING_REASONS = ("sun", "schedule", "paused", "off", "car")


@dataclass(frozen=True)
class Snapshot:
    """The appliance's state at one moment, in the units the screen shows.

    Every power is in watts and every current in amperes, as the names say; the screen does the
    rounding. Fields with a default may be left out by callers that do not know them.
    """

    now: datetime
    """Local wall-clock time; drawn as the clock (HH:MM) in the header."""

    version: str
    """The appliance's software version, shown on the start-up screen."""

    ip_address: str | None = None
    """The appliance's address on the home network (start-up screen); None: not connected yet."""

    starting: bool = False
    """True until the service has talked to the wallbox once: shows the start-up screen."""

    mode: str = "fast"
    """Charging mode: "fast" (grid allowance + PV), "pv" (PV surplus only), "minpv" (minimum
    current plus surplus) or "off"."""

    surplus_estimated: bool = False
    """True in pv/minpv mode without a grid meter: the surplus is PV minus an assumed house load,
    so the screen marks it as an estimate."""

    car_connected: bool | None = None
    """True: a car is plugged in; False: no car; None: the wallbox has not said (yet)."""

    charging: bool = False
    """True while the car takes current."""

    setpoint_a: int = 0
    """The charging current the appliance has written to the wallbox (0 = paused/stopped)."""

    current_a: float = 0.0
    """The charging current the wallbox measures (highest phase)."""

    car_power_w: float = 0.0
    """The power the car draws now."""

    pv_w: float | None = None
    """PV production from the latest inverter data; None: no data received yet."""

    pv_age_s: float | None = None
    """Age of the latest inverter data; None: no data received yet."""

    grid_w: float | None = None
    """The house's grid power from the grid meter (+ import, - export); None: no meter."""

    allowance_w: float = 0.0
    """What the grid operator allows the wallbox to draw from the grid."""

    budget_w: float = 0.0
    """What the wallbox may draw now under every rule (allowance + fresh PV, import limit,
    mode): the full length of the bar on the charging screen."""

    waiting_for: str | None = None
    """Why a connected car does not charge: None (it charges, or no car), "sun" (pv mode:
    not enough surplus yet), "schedule" (a schedule window starts later), "paused" (button or
    command), "off" (mode off) or "car" (offered a current, the car draws nothing: it is full or
    waits for its own timer)."""

    schedule_start: str | None = None
    """Start of the next schedule window as "HH:MM" (with waiting_for == "schedule")."""

    pause_remaining_s: float | None = None
    """Seconds until a pause ends by itself; None: paused until resumed (or not paused)."""

    inverter_stale: bool = False
    """True when the inverter data is older than the configured limit (or missing): PV then
    counts as 0 and the screen says so."""

    wallbox_offline: bool = False
    """True when the wallbox does not answer over Modbus: shows the problem screen."""

    settings_error: str | None = None
    """A settings problem the user must fix (one sentence); shows the problem screen."""

    backlight_on: bool = True
    """Whether the backlight should be lit; the panel switches it, the picture ignores it."""

    start_needs_w: float | None = None
    """pv mode, waiting for sun: the surplus needed to start (minimum current x phases x
    voltage); None: unknown, not shown."""

    surplus_w: float | None = None
    """pv/minpv: the PV surplus the car could use now (from the grid meter, or PV minus the
    assumed house load when surplus_estimated); None: not known, not shown."""

    stale_after_s: float | None = None
    """The configured age limit of inverter data, shown next to the age; None: not shown."""

    link_kind: str | None = None
    """How the appliance reaches the wallbox, for advice that fits: "rtu" (EMS over RS-485),
    "tcp" (EMS over the network), "meter" (a basic box: meter bus and LOG port); None: unknown."""

    wallbox_hint: str | None = None
    """A sentence about why the wallbox does not answer (from the link), shown instead of the
    general advice on the problem screen; None: the advice for `link_kind`."""

    battery_w: float | None = None
    """The home battery's power as Fronius reports it (Site.P_Akku): + discharging (it gives power
    to the house), - charging; None: no battery."""

    soc_pct: float | None = None
    """The home battery's state of charge in percent; None: no battery (or not known)."""

    dimmed: bool = False
    """True while the grid operator's dimming input is active: the allowance is the dimmed one."""

    storage_problem: str | None = None
    """The SD card cannot be written ("SD card full: sessions not saved"); None: fine. Shown in
    place of the PV row until the card takes writes again."""


    def replace(self, **changes) -> "Snapshot":
        """A copy with some fields changed (a frozen dataclass cannot be edited in place)."""
        return dataclasses.replace(self, **changes)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"Snapshot.mode is {self.mode!r}; it must be one of {', '.join(MODES)}.")
        if self.link_kind is not None and self.link_kind not in LINK_KINDS:
            raise ValueError(f"Snapshot.link_kind is {self.link_kind!r}; it must be None or one of "
                             f"{', '.join(LINK_KINDS)}.")
        if self.waiting_for is not None and self.waiting_for not in WAITING_REASONS:
            raise ValueError(
                f"Snapshot.waiting_for is {self.waiting_for!r}; it must be None or one of "
                f"{', '.join(WAITING_REASONS)}."
            )
