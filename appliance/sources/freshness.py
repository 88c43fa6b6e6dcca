"""Which inverter reading to hold: the same rule for every source (push, Solar API, SunSpec).

A reading counts from when it arrived (``Measurement.received_at``, the appliance's monotonic
clock); the inverter's own timestamp (``Head.Timestamp``) only orders readings and checks clocks:

- A reading stamped more than ``max_clock_skew_s`` (5 minutes) away from the appliance's wall
  clock is still taken, on its arrival time: pushes stamped 2099 or 1970 happen when the
  inverter's clock (or the appliance's, before NTP) is wrong, and the power figures in them are
  still today's. It is logged once, with both times, until the clocks agree again.
- A reading stamped earlier than the one held does not replace it: the Datamanager re-sends
  buffered pushes after an outage, and two uploads can overtake each other on the network.
- Only while the held reading is younger than ``stale_after_s``: if the inverter's clock is set
  back (a wrong time corrected), its new stamps are all "older"; after ``stale_after_s`` the next
  reading is taken whatever its stamp, so a clock change costs at most that long.

Readings without a stamp (SunSpec, a stamp that cannot be read) are ordered by arrival.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum

from .fronius import Measurement

log = logging.getLogger("appliance.freshness")

MAX_CLOCK_SKEW_S = 300.0


class Verdict(Enum):
    TAKEN = "taken"                  # the reading replaces the held one
    OLDER_THAN_HELD = "older"        # stamped before the held reading: ignored


@dataclass(frozen=True)
class Offer:
    verdict: Verdict
    clock_skew_s: float | None  # inverter stamp - appliance wall clock; None without a stamp

    @property
    def taken(self) -> bool:
        return self.verdict is Verdict.TAKEN


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class ReadingFreshness:
    """Holds the latest reading; :meth:`offer` decides whether a new one replaces it."""

    def __init__(self, *, stale_after_s: float = 60.0, max_clock_skew_s: float = MAX_CLOCK_SKEW_S,
                 wall_clock: Callable[[], datetime] = _utc_now) -> None:
        self.stale_after_s = float(stale_after_s)
        self.max_clock_skew_s = float(max_clock_skew_s)
        self._wall_clock = wall_clock
        self.held: Measurement | None = None
        self.clock_warning_active = False
        self.ignored_older = 0

    def offer(self, m: Measurement) -> Offer:
        skew_s = self._check_clock(m)
        held = self.held
        if (held is not None and held.inverter_time is not None and m.inverter_time is not None
                and m.inverter_time < held.inverter_time
                and 0.0 <= m.received_at - held.received_at < self.stale_after_s):
            self.ignored_older += 1
            log.info("Inverter data from %s ignored: stamped %s, earlier than the data already "
                     "held (stamped %s); a re-sent or overtaken upload.", m.source,
                     m.inverter_time.isoformat(), held.inverter_time.isoformat())
            return Offer(Verdict.OLDER_THAN_HELD, skew_s)
        self.held = m
        return Offer(Verdict.TAKEN, skew_s)

    def _check_clock(self, m: Measurement) -> float | None:
        if m.inverter_time is None:
            return None
        now = self._wall_clock()
        skew_s = (m.inverter_time - now).total_seconds()
        if abs(skew_s) > self.max_clock_skew_s:
            if not self.clock_warning_active:
                self.clock_warning_active = True
                log.warning(
                    "Inverter data from %s is stamped %s but the appliance's clock says %s "
                    "(%.0f min apart): the inverter's clock or the appliance's is wrong. The data "
                    "counts from its arrival; set the inverter's time (or check the appliance's "
                    "network time) to silence this.", m.source, m.inverter_time.isoformat(),
                    now.isoformat(timespec="seconds"), abs(skew_s) / 60.0)
        elif self.clock_warning_active:
            self.clock_warning_active = False
            log.info("The inverter's clock and the appliance's agree again (%.0f s apart).",
                     abs(skew_s))
        return skew_s
