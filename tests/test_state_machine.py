"""The whole appliance as a state machine: hypothesis drives the stepped core (ApplianceCore) with
pushes (good, bad, stale), wallbox readings (good, implausible, stale, missing), modes, pauses,
schedule edges, dimming edges, battery flows, plug and unplug, and restarts with the persisted
state, and checks the safety rules of DESIGN.md after every step:

  1. the setpoint is 0 or between the minimum and the charger limit;
  2. setpoint x phases x V <= the allowance in force + fresh PV;
  3. with a grid meter and an import limit, the car gets at most what the limit leaves;
  4. each event is followed by a tick at the same moment, so 2 and 3 hold in the step that
     brought the lowering measurement;
  7. bad input never raises (an exception fails the run) and never raises the current.
Also: pause and mode off give 0, and every closed session is in sessions.csv after restarts.

CI runs 100 examples of a fixed search (a few seconds); WALLBOX_STATE_MACHINE_EXAMPLES=2000
runs a long random one.
Phase switching is not exposed by the core yet, so it is not a rule here.
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import tempfile
from datetime import datetime, time, timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from appliance.chargers.base import ChargerHealth, ChargerReading
from appliance.commands import validate
from appliance.config import ScheduleWindow
from appliance.core import ApplianceCore, Clocks
from appliance.policy.control import PolicySettings
from appliance.sessions import SessionTracker, read_sessions
from appliance.sources.fronius import FroniusDataError, Measurement, parse_document
from appliance.state import StateStore

EXAMPLES = int(os.environ.get("WALLBOX_STATE_MACHINE_EXAMPLES", "100"))
UP = ChargerHealth(connected=True, holding=True)
DOWN = ChargerHealth(connected=False, holding=False, problem="No answer from 127.0.0.1:1")
LOCAL0 = datetime(2026, 6, 21, 11, 58)
EPOCH0 = 1_790_000_000.0
V = 230.0
SCHEDULE = (ScheduleWindow(time(12, 0), time(12, 5), "off"), ScheduleWindow(time(12, 5), time(12, 9), "pv"))
BAD_PUSHES = [b"", b"{", b'{"Body": {"Data": {"Site": {"P_PV": ' + b"9" * 5000 + b"}}}}",
              b"[" * 10_000, b'{"Body": {"Data": {"Site": {"P_PV": 1e9}}}}', b"\xff\xfe\x00",
              b'{"Head": {"Status": {"Code": 8}}, "Body": {}}', b'{"Body": {"Data": {"Site": {"P_PV": NaN}}}}']
# Round figures make the search find sequences faster than arbitrary floats, which cluster at 0.
POWERS_W = st.one_of(st.sampled_from([0.0, 800.0, 3000.0, 8000.0, 15000.0, 25000.0, -3000.0, -9000.0]),
                     st.floats(-20_000, 25_000))
IMPLAUSIBLE = [dict(power_w=4_294_965_300.0), dict(currents_a=(65535.0, 0.0, 0.0)),
               dict(limit_a=65535), dict(power_w=math.nan), dict(currents_a=(-3.0, 0.0, 0.0))]


class ApplianceMachine(RuleBasedStateMachine):
    @initialize(  # the first of each list is what the search tries most: the widest room first
                allowance_w=st.sampled_from([4200.0, 11000.0]),
                import_limit_w=st.sampled_from([0.0, 9000.0, 14000.0]),
                max_current_a=st.sampled_from([32, 16]), schedule=st.booleans())
    def start(self, allowance_w, import_limit_w, max_current_a, schedule):
        # RAM where there is some: every step may fsync, and a search runs thousands of steps.
        ram = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        self.dir = Path(tempfile.mkdtemp(prefix="wallbox-sm-", dir=ram))
        self.policy = PolicySettings(allowance_w=allowance_w, import_limit_w=import_limit_w,
                                     max_current_a=max_current_a, ramp_up_interval_s=10.0,
                                     enable_delay_s=20.0, disable_delay_s=60.0)
        self.schedule = SCHEDULE if schedule else ()
        self.t = 0.0
        self.dimmed = False
        self.pv = None            # (pv_w counted, at_s) of the newest accepted push
        self.grid = None          # (grid_w, at_s, car_w at that moment or None)
        self.car_w = None         # (power_w, at_s) of the newest usable reading
        self.limit_a = None       # the latest reading's limit, when that reading is plausible
        self.plugged = False
        self.session_open = False
        self.closed_sessions = 0
        self.pause_until = None   # None: not paused; math.inf: until resumed
        self.mode = "fast"
        self.setpoint = 0
        self._boot()
        self.tick()

    def _boot(self):
        self.core = ApplianceCore(self.policy, store=StateStore(self.dir, "fast"),
                                  sessions=SessionTracker(self.dir / "sessions.csv", lambda: self.local()),
                                  schedule=self.schedule, logger=None)
        self.core.no_data_hint = ""

    def teardown(self):
        shutil.rmtree(getattr(self, "dir", "/nonexistent"), ignore_errors=True)

    # -- clocks and the step ---------------------------------------------------------------------

    def local(self) -> datetime:
        return LOCAL0 + timedelta(seconds=self.t)

    def clocks(self) -> Clocks:
        return Clocks(self.t, self.local(), EPOCH0 + self.t)

    def tick(self) -> int:
        # As the runtime does every cycle: the allowance in force, then the decision.
        self.core.allowance(2000.0 if self.dimmed else self.policy.allowance_w)
        before = self.setpoint
        self.setpoint = self.core.tick(self.clocks())
        return before

    # -- rules: time, pushes ---------------------------------------------------------------------

    @rule(dt_s=st.sampled_from([1.0, 2.0, 5.0, 11.0, 30.0, 61.0, 200.0]))
    def time_passes(self, dt_s):
        self.t += dt_s
        self.tick()

    @rule(pv_w=POWERS_W.map(abs), grid_w=st.one_of(st.none(), POWERS_W),
          battery_w=st.one_of(st.none(), st.sampled_from([-3000.0, -500.0, 0.0, 500.0, 3000.0])),
          soc=st.sampled_from([10.0, 49.0, 50.0, 90.0, 100.0]),
          age_s=st.sampled_from([0.0, 0.0, 0.0, 30.0, 59.0, 61.0, 300.0]))
    def push(self, pv_w, grid_w, battery_w, soc, age_s):
        at = self.t - age_s
        self.core.measurement(Measurement(
            pv_w=pv_w, grid_w=grid_w, load_w=None, battery_w=battery_w,
            kind="powerflow" if grid_w is not None else "inverter", inverter_time=None,
            source="powerflow.json", received_at=at, soc_pct=soc if battery_w is not None else None))
        self.pv = (pv_w, at)
        if grid_w is not None:
            car = self.car_w[0] if self.car_w and 0 <= at - self.car_w[1] < 10 else None
            self.grid = (grid_w, at, car)
        self.tick()

    @rule(data=st.sampled_from(BAD_PUSHES))
    def bad_push(self, data):
        self.tick()  # the baseline at this moment
        try:
            m = parse_document(data, source="powerflow.json", received_at=self.t)
        except FroniusDataError:
            self.core.rejected("powerflow.json", "bad")
        else:
            raise AssertionError(f"accepted {data[:40]!r} as {m}")
        before = self.tick()
        assert self.setpoint <= before, "a rejected push raised the current"

    # -- rules: the wallbox ----------------------------------------------------------------------

    def _reading(self, **changes) -> ChargerReading:
        amps = min(self.setpoint, 32) if self.plugged else 0.0
        fields = dict(at_s=self.t, car_connected=self.plugged, charging=amps > 0,
                      power_w=amps * 3 * V, currents_a=(amps, amps, amps), limit_a=self.limit_cap,
                      meter_wh=1000 + int(self.t))
        fields.update(changes)
        return ChargerReading(**fields)

    limit_cap = 32

    @rule(plugged=st.booleans(), limit_a=st.sampled_from([16, 20, 32]))
    def wallbox_reading(self, plugged, limit_a):
        self.t += 1.0  # a car is not plugged in and out within one second
        self.plugged, self.limit_cap = plugged, limit_a
        reading = self._reading()
        self.core.charger(reading, UP)
        self.car_w, self.limit_a = (reading.power_w, self.t), limit_a
        if plugged and not self.session_open:
            self.session_open = True
        elif not plugged and self.session_open:
            self.session_open = False
            self.closed_sessions += 1
        self.tick()

    @rule(limit_a=st.sampled_from([16, 20]), pv_w=st.sampled_from([3000.0, 8000.0, 15000.0]))
    def charging_in_the_sun(self, limit_a, pv_w):
        """A common day, as one step: a car on a box with its own limit, sun, the ramp's wait.
        (Found by the search on its own too, but rarely: this makes limits meet high currents.)"""
        for _ in range(3):
            self.wallbox_reading(True, limit_a)
            self.push(pv_w, None, None, 50.0, 0.0)
            self.time_passes(11.0)

    @rule(pv_w=st.sampled_from([3000.0, 8000.0, 15000.0]), silent_s=st.sampled_from([61.0, 200.0]))
    def the_pushes_stop_at_noon(self, pv_w, silent_s):
        """The inverter's Wi-Fi drops in full sun: the PV it last reported must stop counting."""
        self.push(pv_w, None, None, 50.0, 0.0)
        self.time_passes(11.0)
        self.time_passes(silent_s)

    @rule(changes=st.sampled_from(IMPLAUSIBLE))
    def implausible_reading(self, changes):
        # DESIGN: an implausible reading is treated as "not known". So the core must decide
        # exactly as a twin that got no reading at all (minpv offers its minimum current to a car
        # it cannot see, so "not known" may be more than a reading that said "unplugged").
        self.tick()
        twin = copy.deepcopy(self.core)
        twin.store = twin.sessions = None
        twin.charger(None, UP)
        self.core.charger(self._reading(**changes), UP)
        self.limit_a = None
        self.tick()
        assert self.setpoint == twin.tick(self.clocks()), "an implausible reading was not 'not known'"

    @rule(age_s=st.sampled_from([11.0, 60.0]))
    def stale_reading(self, age_s):
        self.core.charger(self._reading(at_s=self.t - age_s), UP)
        self.limit_a = self.limit_cap
        self.tick()

    @rule()
    def wallbox_missing(self):
        self.core.charger(None, DOWN)
        self.tick()

    # -- rules: commands, dimming, restarts ------------------------------------------------------

    @rule(mode=st.sampled_from(["fast", "pv", "minpv", "off"]))
    def set_mode(self, mode):
        self._command(command="mode", mode=mode)
        self.mode = mode

    @rule(minutes=st.sampled_from([None, 1, 10]))
    def pause(self, minutes):
        self._command(command="pause", minutes=minutes)
        self.pause_until = math.inf if minutes is None else EPOCH0 + self.t + minutes * 60

    @rule()
    def resume(self):
        self._command(command="resume")
        self.pause_until = None

    def _command(self, **request):
        valid, error = validate(request)
        assert valid is not None, error
        self.core.command(valid, self.clocks())
        self.tick()

    @rule(on=st.booleans())
    def dimming_edge(self, on):
        self.dimmed = on
        self.tick()

    @rule()
    def restart(self):
        self._boot()
        self.pv = self.grid = self.car_w = self.limit_a = None
        self.setpoint = 0
        self.tick()

    # -- the safety rules ------------------------------------------------------------------------

    @invariant()
    def rule_1_setpoint_is_zero_or_min_to_limit(self):
        if not hasattr(self, "core"):
            return
        sp = self.setpoint
        limit = min(self.policy.max_current_a, self.limit_a or self.policy.max_current_a)
        assert sp == 0 or self.policy.min_current_a <= sp <= limit, (sp, limit)

    @invariant()
    def rule_2_allowance_plus_fresh_pv(self):
        if not hasattr(self, "core"):
            return
        fresh_pv = self.pv[0] if self.pv and 0 <= self.t - self.pv[1] < self.policy.stale_after_s else 0.0
        allowance = 2000.0 if self.dimmed else self.policy.allowance_w
        assert self.setpoint * 3 * V <= allowance + max(0.0, fresh_pv) + 1e-6, \
            (self.setpoint, allowance, fresh_pv)

    @invariant()
    def rule_3_import_limit_with_a_meter(self):
        if not hasattr(self, "core") or not self.policy.import_limit_w or self.grid is None:
            return
        grid_w, at, car_w = self.grid
        if car_w is None or not 0 <= self.t - at < self.policy.stale_after_s:
            return
        house_w = grid_w - car_w
        assert self.setpoint * 3 * V <= max(0.0, self.policy.import_limit_w - house_w) + 1e-6, \
            (self.setpoint, grid_w, car_w)

    @invariant()
    def paused_or_off_gives_zero(self):
        if not hasattr(self, "core"):
            return
        paused = self.pause_until is not None and EPOCH0 + self.t < self.pause_until
        scheduled_off = bool(self.schedule) and time(12, 0) <= self.local().time() < time(12, 5)
        if paused or (self.mode == "off" and not self._in_pv_window()) or scheduled_off:
            assert self.setpoint == 0, (paused, self.mode, self.local())

    def _in_pv_window(self) -> bool:
        return bool(self.schedule) and time(12, 5) <= self.local().time() < time(12, 9)

    @invariant()
    def every_closed_session_is_recorded(self):
        if not hasattr(self, "core"):
            return
        assert len(read_sessions(self.dir / "sessions.csv")) == self.closed_sessions


ApplianceMachine.TestCase.settings = settings(
    # CI: a fixed search, the same every run (no flaky failures); a long run searches at random.
    max_examples=EXAMPLES, stateful_step_count=40, deadline=None, derandomize=EXAMPLES <= 100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestApplianceMachine = ApplianceMachine.TestCase
