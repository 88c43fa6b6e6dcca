"""The fixed sets the appliance speaks in, defined once: modes, wait reasons, reasons, commands.

They are `StrEnum`s: a member equals its text ("pv" == Mode.PV), so settings, the state file, the
control socket's JSON and the screen's plain snapshot keep using the same words.
"""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    FAST = "fast"      # allowance + PV, as much as the safety rules allow
    PV = "pv"          # PV surplus only, with start and stop delays
    MINPV = "minpv"    # the minimum current while a car is connected, plus PV surplus
    OFF = "off"        # nothing


MODES: tuple[str, ...] = tuple(m.value for m in Mode)

# The button's long press steps through the modes; "off" is left for the schedule and the socket.
NEXT_MODE: dict[str, Mode] = {Mode.FAST: Mode.PV, Mode.PV: Mode.MINPV, Mode.MINPV: Mode.FAST,
                              Mode.OFF: Mode.FAST}


class Waiting(StrEnum):
    """Why a setpoint is 0 (or lower than the mode asks for), as the policy sees it."""

    SUN = "sun"          # pv mode: not enough surplus (yet)
    PAUSED = "paused"
    OFF = "off"
    CAR = "car"          # no car connected
    RAMP = "ramp"        # a raise from 0 waits for the ramp interval


class Reason(StrEnum):
    """What made the setpoint; appliance.messages turns it (with the decision's numbers) into words."""

    PAUSED = "paused"
    MODE_OFF = "mode_off"
    FAST_PV = "fast_pv"                    # allowance + fresh PV
    FAST_ALLOWANCE_ONLY = "fast_allowance"  # no fresh PV data
    NO_CAR = "no_car"
    MINPV = "minpv"
    PV_WAITING = "pv_waiting"              # surplus below the minimum current
    PV_STARTING = "pv_starting"            # surplus above it, enable delay running
    PV_RESTART_WAIT = "pv_restart_wait"    # the last start is too recent
    PV_RUNNING = "pv_running"
    PV_STOPPING = "pv_stopping"            # the hold below the minimum cost stop_deficit_wh: stop
    PV_HOLDING = "pv_holding"              # below the minimum, holding the minimum current
    PV_NO_DATA = "pv_no_data"              # no fresh surplus reading
    PV_CLOUDY = "pv_cloudy"                # surplus there, but charging lately cost too much grid
    PV_STOPPED_CLOUDY = "pv_stopped_cloudy"      # stopped: clouds made charging too costly
    PV_STOPPED_BATTERY = "pv_stopped_battery"  # stopped: a hold would take the battery's charge
    PV_STOPPED_WEAK_SUN = "pv_stopped_weak_sun"  # stopped: weak sun (sunset, winter) and held
    PHASE_SWITCH = "phase_switch"          # held at 0 while the wallbox switches phases


class Command(StrEnum):
    STATUS = "status"
    MODE = "mode"
    PAUSE = "pause"
    RESUME = "resume"
    TOGGLE_PAUSE = "toggle_pause"   # the button's short press
    NEXT_MODE = "next_mode"         # the button's long press


SOCKET_COMMANDS: tuple[str, ...] = (Command.STATUS, Command.MODE, Command.PAUSE, Command.RESUME)
CHANGE_COMMANDS: tuple[str, ...] = (Command.MODE, Command.PAUSE, Command.RESUME)
