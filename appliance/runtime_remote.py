"""The appliance seen from the home network: the web page, MQTT for Home Assistant, the per-minute
history and the log lines they show. The runtime opens them after the charging control is running
and closes them first; each gets the same two callables, status and command, and every command
goes through the one validator (appliance.commands) into the control thread."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger("appliance")


class Remote:
    """Web page, MQTT bridge, history store and log ring, as the settings switch them on."""

    def __init__(self, runtime: "Runtime"):
        self.runtime = runtime
        self.web = self.mqtt = self.history = self.log_ring = None
        self._last_snapshot = None

    def status(self) -> dict:
        """Asked in the control thread, like the control socket's "status"."""
        answer = self.runtime.request({"command": "status"})
        answer.pop("ok", None)
        return answer

    def command(self, name: str, **args) -> dict:
        return self.runtime.request({"command": name, **args})

    def snapshot(self):
        return self._last_snapshot

    def open(self) -> None:
        s = self.runtime.settings
        web, mqtt = getattr(s, "web", None), getattr(s, "mqtt", None)
        if web is not None and web.enabled:
            self._open_web(s)
        if mqtt is not None and mqtt.host:
            self._open_mqtt(s)

    def _open_web(self, s) -> None:
        from .history import HistoryStore
        from .loglines import LogRing
        from .web import WebServer

        self.history = HistoryStore(Path(s.state.dir) / "history", clock=time.time, tz=self.runtime.core.tz)
        self.log_ring = LogRing()
        logging.getLogger("appliance").addHandler(self.log_ring)
        self.web = WebServer(
            get_status=self.status, command=self.command, settings=s,
            sessions_csv=Path(s.state.dir) / "sessions.csv", history=self.history,
            log_lines=self.log_ring, password=s.web.password, get_snapshot=self.snapshot,
            stale_after_s=s.fronius.stale_after_s, host=s.web.host, port=s.web.port)
        try:
            self.web.start()
        except OSError:  # logged with the fix by the web server; charging goes on without the page
            self.web = None

    def _open_mqtt(self, s) -> None:
        try:
            from .mqtt import MqttBridge, MqttSettings

            self.mqtt = MqttBridge(MqttSettings.from_section(s.mqtt), get_status=self.status,
                                   command=self.command, stale_after_s=s.fronius.stale_after_s,
                                   version=__version__)
            self.mqtt.start()
        except Exception as exc:  # no Home Assistant is better than no charging control
            log.error("MQTT could not be started (%s): check [mqtt] host, port and the broker.", exc)
            self.mqtt = None

    def cycle(self, snapshot) -> None:
        """Once per control cycle, in the control thread: the history's sample and the picture
        the web page shows (the cycle's snapshot, made once for the screen and the page)."""
        if self.web is None:
            return
        core = self.runtime.core
        r, d, usable = core.readings, core.decision, core.status_reading()
        car_w = usable.power_w if usable else 0.0
        pv_w = d.pv_counted_w if d else None
        house_w = r.grid_w + (pv_w or 0.0) - car_w if d and d.data_fresh and r.grid_w is not None else None
        try:
            self.history.add(pv_w=pv_w, house_w=house_w, car_w=car_w,
                             allowance_w=core.controller.cfg.allowance_w, battery_w=None)
            self._last_snapshot = snapshot
        except Exception:  # the page's figures must never stop the charging control
            log.exception("Recording the history for the web page failed")

    def close(self) -> None:
        if self.mqtt is not None:
            self.mqtt.stop()
        if self.web is not None:
            self.web.stop()
        if self.log_ring is not None:
            logging.getLogger("appliance").removeHandler(self.log_ring)
