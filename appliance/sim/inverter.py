"""A simulated Fronius inverter: a PV day model and a push service that uploads by FTP.

Used by ``wallbox demo`` and by tests: it talks to the real FtpReceiver over loopback exactly as
the Datamanager's "Current data - Powerflow" push does (log in, STOR one JSON file, quit).
"""

from __future__ import annotations

import ftplib
import functools
import io
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime

log = logging.getLogger("appliance.sim.inverter")

# The PV day model -------------------------------------------------------------------------------
#
# Clear sky: zero outside SUNRISE..SUNSET (fractions of the day; 06:00-20:00, a long summer day
# with solar noon at 13:00 as under daylight saving time), and inside it
#     peak_w * sin(pi * x) ** 1.3,    x = (t - sunrise) / (sunset - sunrise),
# a bell that rises slowly in the morning like a real string's yield. Clouds: a seeded list of
# 4-9 passing clouds, each a Gaussian dip in time (half-width 5-30 min) that takes 30-80 % off
# while it passes; overlapping dips multiply. The same seed always gives the same day.

SUNRISE = 6.0 / 24.0
SUNSET = 20.0 / 24.0
_CLEAR_SKY_EXPONENT = 1.3


@functools.lru_cache(maxsize=32)
def _clouds(seed: int) -> tuple[tuple[float, float, float], ...]:
    rng = random.Random(seed)
    dips = []
    for _ in range(rng.randint(4, 9)):
        centre = rng.uniform(SUNRISE, SUNSET)
        half_width = rng.uniform(5.0, 30.0) / (24.0 * 60.0)
        depth = rng.uniform(0.3, 0.8)
        dips.append((centre, half_width, depth))
    return tuple(dips)


def pv_day_w(fraction_of_day: float, peak_w: float = 9000.0, clouds: bool = True, seed: int = 1) -> float:
    """PV power (W) at a moment of a simulated day; ``fraction_of_day`` 0.0 = midnight, 0.5 = noon.

    Values outside 0..1 wrap around to the same time of day. See the model notes above.
    """
    if not math.isfinite(fraction_of_day):
        raise ValueError(f"fraction_of_day must be a finite number, not {fraction_of_day!r}.")
    if not (peak_w >= 0 and math.isfinite(peak_w)):
        raise ValueError(f"peak_w must be a finite number of watts >= 0, not {peak_w!r}.")
    t = fraction_of_day % 1.0
    if t <= SUNRISE or t >= SUNSET:
        return 0.0
    x = (t - SUNRISE) / (SUNSET - SUNRISE)
    power_w = peak_w * math.sin(math.pi * x) ** _CLEAR_SKY_EXPONENT
    if clouds:
        for centre, half_width, depth in _clouds(seed):
            power_w *= 1.0 - depth * math.exp(-(((t - centre) / half_width) ** 2))
    return power_w


# The push document ------------------------------------------------------------------------------


def powerflow_document(
    *, pv_w: float | None, grid_w: float | None, load_w: float | None, timestamp: datetime
) -> dict:
    """A "Current data - Powerflow" push document (layout ``Body.Site``), as a Datamanager sends.

    ``grid_w`` None means a system without a meter ("produce-only"). ``timestamp`` must be
    timezone-aware (the inverter writes its local offset).
    """
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware, e.g. datetime.now().astimezone().")
    metered = grid_w is not None
    autonomy = self_consumption = None
    if metered and load_w is not None and load_w < 0:
        autonomy = max(0.0, min(100.0, 100.0 * (1.0 - max(grid_w, 0.0) / -load_w)))
    if pv_w:
        self_consumption = 100.0 if not metered else max(0.0, min(100.0, 100.0 * (1.0 + min(grid_w, 0.0) / pv_w)))
    return {
        "Body": {
            "Inverters": {"1": {"DT": 232, "P": pv_w if pv_w is not None else 0}},
            "Site": {
                "E_Day": None,
                "E_Total": None,
                "E_Year": None,
                "Meter_Location": "grid" if metered else "unknown",
                "Mode": "meter" if metered else "produce-only",
                "P_Akku": None,
                "P_Grid": grid_w,
                "P_Load": load_w,
                "P_PV": pv_w,
                "rel_Autonomy": autonomy,
                "rel_SelfConsumption": self_consumption,
            },
            "Version": "12",
        },
        "Head": {
            "RequestArguments": {},
            "Status": {"Code": 0, "Reason": "", "UserMessage": ""},
            "Timestamp": timestamp.isoformat(timespec="seconds"),
        },
    }


# The push service -------------------------------------------------------------------------------


class SimulatedInverter:
    """Pushes a power-flow document by FTP every ``interval_s`` from a background thread.

    P_PV = pv_w(), P_Load = -(house + car), P_Grid = house + car - PV (it has a grid meter).
    ``file_name`` may hold strftime placeholders and directories, like the Datamanager's
    ``%Y%m%d/%H%M%S.solarapi.v1.powerflow``.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        user: str,
        password: str,
        interval_s: float = 1.0,
        pv_w: Callable[[], float | None],
        house_w: Callable[[], float],
        car_w: Callable[[], float],
        file_name: str = "powerflow.json",
    ) -> None:
        if not (interval_s > 0 and math.isfinite(interval_s)):
            raise ValueError(f"interval_s must be a positive number of seconds, not {interval_s!r}.")
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.interval_s = float(interval_s)
        self.file_name = file_name
        self._pv_w = pv_w
        self._house_w = house_w
        self._car_w = car_w
        self.pushes_sent = 0
        self.last_error: str | None = None  # None after a successful push
        self._paused = threading.Event()
        self._stop = threading.Event()
        self._push_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def document(self, now: datetime | None = None) -> dict:
        """The document the next push would send (reads the power callables once)."""
        pv_w = self._pv_w()
        consumption_w = float(self._house_w()) + float(self._car_w())
        return powerflow_document(
            pv_w=None if pv_w is None else float(pv_w),
            grid_w=consumption_w - (pv_w or 0.0),
            load_w=-consumption_w,
            timestamp=now or datetime.now().astimezone(),
        )

    def push_once(self) -> bool:
        """One upload now; True if the server accepted the file (226)."""
        with self._push_lock:
            now = datetime.now().astimezone()
            name = now.strftime(self.file_name) if "%" in self.file_name else self.file_name
            try:
                payload = json.dumps(self.document(now), indent=3).encode()
                with ftplib.FTP(timeout=max(2.0, self.interval_s * 2)) as ftp:
                    ftp.connect(self.host, self.port)
                    ftp.login(self.user, self.password)
                    ftp.storbinary(f"STOR {name}", io.BytesIO(payload))
                    try:
                        ftp.quit()
                    except ftplib.all_errors:
                        pass
            except Exception as exc:  # any failure is reported, never raised into the demo
                error = f"Push of {name} to {self.host}:{self.port} failed: {exc}"
                if error != self.last_error:
                    log.warning("%s", error)
                self.last_error = error
                return False
            self.pushes_sent += 1
            self.last_error = None
            return True

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            if not self._paused.is_set():
                self.push_once()
            next_at += self.interval_s
            delay_s = next_at - time.monotonic()
            if delay_s < 0:  # fell behind (slow server): carry on from now, no burst
                next_at = time.monotonic()
                delay_s = 0.0
            self._stop.wait(delay_s)

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="simulated-inverter", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, self.interval_s * 3))
        self._thread = None

    def pause_pushing(self) -> None:
        """Stop uploading (the thread keeps running) to show what happens when data stops.

        Returns after any upload already under way has finished, so nothing arrives later."""
        self._paused.set()
        with self._push_lock:
            pass

    def resume_pushing(self) -> None:
        self._paused.clear()

    @property
    def paused(self) -> bool:
        return self._paused.is_set()
