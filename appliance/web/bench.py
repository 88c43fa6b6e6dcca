"""How much the web page costs: resident memory before and after serving it, and time per poll.

    python -m appliance.web.bench

The page polls /api/state every 2 s while it is visible, and the chart, sessions and log every
30 s; this runs 300 polls (10 minutes of an open page) as fast as it can over loopback.
"""

from __future__ import annotations

import tempfile
import time
import urllib.request
from pathlib import Path

STATUS = {"mode": "fast", "mode_in_force": "fast", "paused": False, "pause_until_epoch_s": None,
          "setpoint_a": 16, "reason": "fast: 11.0 kW allowance + 5.6 kW PV", "budget_w": 16600.0,
          "pv_w": 5600.0, "pv_age_s": 2.0, "grid_w": 310.0, "wallbox_connected": True, "wallbox_error": None,
          "car_connected": True, "car_w": 10970.0, "meter_wh": 120000, "session_energy_wh": 5230}


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    import importlib

    importlib.import_module("appliance.service")  # what the service loads anyway

    before = rss_mb()
    from appliance.history import HistoryStore
    from appliance.loglines import LogRing
    importlib.import_module("appliance.mqtt")  # paho, loaded when MQTT is on
    from appliance.web import WebServer

    with tempfile.TemporaryDirectory() as tmp:
        clock = [time.time() - 8 * 3600]
        history = HistoryStore(Path(tmp), clock=lambda: clock[0])
        for _ in range(8 * 60):
            history.add(pv_w=5000.0, house_w=600.0, car_w=11000.0, allowance_w=11000.0)
            clock[0] += 60
        server = WebServer(get_status=lambda: STATUS, command=lambda name, **a: {"ok": True}, history=history,
                           log_lines=LogRing(), host="127.0.0.1", port=0)
        with server:
            started = time.perf_counter()
            for i in range(300):
                extra = ("api/history", "api/sessions", "api/log", "api/settings", "", "app.js") if i % 15 == 0 else ()
                for path in ("api/state",) + extra:
                    urllib.request.urlopen(server.url + path, timeout=5).read()
            per_poll_ms = (time.perf_counter() - started) / 300 * 1000
            after = rss_mb()
    print(f"resident memory: {before:.1f} MB with the service's modules, {after:.1f} MB after serving "
          f"the page (+{after - before:.1f} MB; limit 40 MB for the whole service)")
    print(f"{per_poll_ms:.2f} ms per poll of the live state (with the chart, sessions and log every 15th)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
