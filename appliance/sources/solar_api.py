"""Polling the Fronius Solar API (GetPowerFlowRealtimeData over HTTP): the source for GEN24
inverters (no Datamanager, so no push service) and for any Fronius not set up to push.

What polling costs the inverter is in notes/sources-README.md: at the default 2 s it is 43,200
requests a day of about 1.3 kB each.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

import requests

from ..input_limits import PUSH_LIMITS
from .fronius import FroniusDataError, Measurement, parse_document

from .interval_poller import IntervalPoller

log = logging.getLogger("appliance.fronius")

#: The Solar API v1 documentation asks for 4 s between two realtime requests, written for the
#: Datamanager; GEN24 inverters (no Datamanager, the Solar API is their only JSON source) answer
#: GetPowerFlowRealtimeData in tens of milliseconds, and evcc and Home Assistant users poll them
#: every few seconds. The default is 2 s (43,200 requests a day); 1 s is the floor, so a typing
#: slip in the settings cannot hammer the inverter's web server.
SOLAR_API_DEFAULT_INTERVAL_S = 2.0
SOLAR_API_MIN_INTERVAL_S = 1.0

POWERFLOW_PATH = "/solar_api/v1/GetPowerFlowRealtimeData.fcgi"


class SolarApiPoller(IntervalPoller):
    """Polls GetPowerFlowRealtimeData over HTTP: the source for inverters without a push service
    (GEN24), and for any Fronius whose Datamanager is not set up to push.

    Polls every ``interval_s`` (2 s by default) and never sends two requests less than 1 s apart,
    whether they come from the background thread or from direct calls to :meth:`poll_once`.
    """

    def __init__(
        self,
        base_url: str,
        on_measurement: Callable[[Measurement], None],
        on_rejected: Callable[[str, str], None] | None = None,
        interval_s: float = SOLAR_API_DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        timeout_s: float = 3.0,
    ) -> None:
        base = base_url.strip().rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise ValueError(
                f"solar_api_url {base_url!r} must start with http:// or https://, "
                'e.g. "http://192.168.178.40".'
            )
        if not (interval_s > 0 and math.isfinite(interval_s)):
            raise ValueError(f"The Solar API poll interval {interval_s!r} s must be a positive number.")
        if interval_s < SOLAR_API_MIN_INTERVAL_S:
            log.warning(
                "Solar API poll interval %.1f s is below the floor of %.0f s between requests "
                "that spares the inverter's web server: polling every %.0f s instead "
                "(set [fronius] solar_api_interval_s = 2).",
                interval_s,
                SOLAR_API_MIN_INTERVAL_S,
                SOLAR_API_MIN_INTERVAL_S,
            )
            interval_s = SOLAR_API_MIN_INTERVAL_S
        self.base_url = base
        self.url = base + POWERFLOW_PATH
        self.interval_s = float(interval_s)
        self.timeout_s = float(timeout_s)
        self._on_measurement = on_measurement
        self._on_rejected = on_rejected
        self._clock = clock
        self._lock = threading.Lock()
        self._last_request_at: float | None = None
        self._session = requests.Session()
        self._init_thread()
        self.requests_sent = 0

    # -- one request

    def _reject(self, reason: str) -> None:
        log.warning("Solar API answer from %s ignored: %s", self.url, reason)
        if self._on_rejected is None:
            return
        try:
            self._on_rejected(self.url, reason)
        except Exception:
            log.exception("The handler for rejected Solar API answers failed.")

    def poll_once(self) -> Measurement | None:
        """One GET; returns the measurement, or None when the answer was refused (reported to
        on_rejected) or when the previous request is less than 1 s ago (nothing is sent then)."""
        with self._lock:
            now = self._clock()
            if (
                self._last_request_at is not None
                and now - self._last_request_at < SOLAR_API_MIN_INTERVAL_S
            ):
                log.debug("Solar API request skipped: the previous one was under 1 s ago.")
                return None
            self._last_request_at = now
            self.requests_sent += 1
            try:
                response = self._session.get(self.url, timeout=self.timeout_s, stream=True)
                content = read_limited(response, PUSH_LIMITS.max_bytes)
            except requests.Timeout:
                self._reject(
                    f"no answer within {self.timeout_s:g} s: check that the inverter is on "
                    "and reachable at this address."
                )
                return None
            except requests.RequestException as exc:
                self._reject(
                    f"could not connect ({exc.__class__.__name__}): check solar_api_url and "
                    "that the inverter is on the network."
                )
                return None
            if response.status_code != 200:
                self._reject(
                    f"HTTP {response.status_code} {response.reason or ''}".rstrip()
                    + ": check that the Solar API is enabled in the inverter's web interface."
                )
                return None
            if content is None:
                self._reject(f"the answer is larger than {PUSH_LIMITS.max_bytes:,} bytes: "
                             "check that solar_api_url names the inverter's GetPowerFlowRealtimeData.fcgi.")
                return None
            try:
                measurement = parse_document(content, source=self.url, received_at=self._clock())
            except FroniusDataError as exc:
                self._reject(str(exc))
                return None
        try:
            self._on_measurement(measurement)
        except Exception:
            log.exception("The handler for Solar API measurements failed.")
        return measurement

    # -- background polling (appliance.sources.interval_poller)

    thread_name = "solar-api-poller"
    WAIT_STEP_S = 0.5

    def _release(self) -> None:
        self._session.close()


def read_limited(response, max_bytes: int) -> bytes | None:
    """The body of a streamed answer, or None (and the connection closed) once it passes max_bytes:
    an answer that never ends must not fill the Pi's memory."""
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(65536):
            size += len(chunk)
            if size > max_bytes:
                return None
            chunks.append(chunk)
    finally:
        response.close()
    return b"".join(chunks)
