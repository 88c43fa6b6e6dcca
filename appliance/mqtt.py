"""MQTT for Home Assistant and friends: state out (retained), commands in, discovery announced.

Topics under `topic_prefix` (default "wallbox"):
    wallbox/availability         "online" / "offline" (retained; "offline" is also the last will)
    wallbox/charging_power_w     W the car draws          wallbox/setpoint_a     A the wallbox is told
    wallbox/pv_w, wallbox/grid_w W (grid: + import)        wallbox/session_energy_wh   the open session
    wallbox/car_connected, wallbox/data_stale, wallbox/wallbox_connected, wallbox/paused   "ON"/"OFF"
    wallbox/mode                 fast | pv | minpv | off
    wallbox/battery_w, wallbox/soc_pct   only with a home battery (W: + discharging, - charging)
Commands: wallbox/mode/set ("pv"), wallbox/paused/set ("ON" pauses until resumed, "OFF" resumes),
and wallbox/command (the control socket's JSON, e.g. {"command": "pause", "minutes": 30}); every
command is validated as the control socket does, and the answer goes to wallbox/command/result.

Values are published when they change, measurements at most every `min_interval_s` per topic
(a broker on a Pi or in Home Assistant's recorder need not take a message a second), switches
and the mode at once. Home Assistant finds one device with all entities through discovery.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .control_socket import validate

log = logging.getLogger(__name__)

MODES = ("fast", "pv", "minpv", "off")
MAX_PAYLOAD_BYTES = 256
TICK_S = 1.0


@dataclass(frozen=True)
class MqttSettings:
    host: str
    port: int = 1883
    username: str = ""
    password: str = ""
    tls: bool = False
    topic_prefix: str = "wallbox"
    discovery_prefix: str = "homeassistant"
    client_id: str = "wallbox"
    min_interval_s: float = 10.0
    tls_ca_file: str | None = None  # None: the system's certificate authorities

    @classmethod
    def from_section(cls, section: Any) -> "MqttSettings":
        """From the settings' [mqtt] section (any object with these attribute names)."""
        names = ("host", "port", "username", "password", "tls", "topic_prefix", "discovery_prefix", "client_id")
        return cls(**{name: getattr(section, name) for name in names if hasattr(section, name)})


def _on_off(value: Any) -> str | None:
    return None if value is None else ("ON" if value else "OFF")


def _watts(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return "None"  # Home Assistant shows "unknown" for the payload None
    return str(int(round(value)))


@dataclass(frozen=True)
class Entity:
    """One Home Assistant entity: its topic under the prefix and how its value is read."""

    key: str
    component: str  # sensor | binary_sensor | select | switch
    name: str
    read: Callable[[dict, float], str | None]
    measurement: bool = False  # rate-limited; switches and the mode are sent at once
    battery_only: bool = False
    extra: dict = field(default_factory=dict)


def _stale(status: dict, stale_after_s: float) -> str:
    age_s = status.get("pv_age_s")
    return "ON" if age_s is None or age_s > stale_after_s else "OFF"


_POWER = {"device_class": "power", "unit_of_measurement": "W", "state_class": "measurement"}
ENTITIES = (
    Entity("charging_power_w", "sensor", "Charging power", lambda s, _: _watts(s.get("car_w")), True,
           extra=_POWER),
    Entity("setpoint_a", "sensor", "Charging current setpoint", lambda s, _: _watts(s.get("setpoint_a")), True,
           extra={"device_class": "current", "unit_of_measurement": "A", "state_class": "measurement"}),
    Entity("pv_w", "sensor", "PV power", lambda s, _: _watts(s.get("pv_w")), True, extra=_POWER),
    Entity("grid_w", "sensor", "Grid power", lambda s, _: _watts(s.get("grid_w")), True, extra=_POWER),
    Entity("session_energy_wh", "sensor", "Session energy", lambda s, _: _watts(s.get("session_energy_wh")),
           True, extra={"device_class": "energy", "unit_of_measurement": "Wh", "state_class": "total_increasing"}),
    Entity("battery_w", "sensor", "Home battery power", lambda s, _: _watts(s.get("battery_w")), True, True,
           extra=_POWER),
    Entity("soc_pct", "sensor", "Home battery charge", lambda s, _: _watts(s.get("soc_pct")), True, True,
           extra={"device_class": "battery", "unit_of_measurement": "%", "state_class": "measurement"}),
    Entity("car_connected", "binary_sensor", "Car connected", lambda s, _: _on_off(s.get("car_connected")),
           extra={"device_class": "plug"}),
    Entity("data_stale", "binary_sensor", "Inverter data stale", _stale, extra={"device_class": "problem"}),
    Entity("wallbox_connected", "binary_sensor", "Wallbox answering",
           lambda s, _: _on_off(s.get("wallbox_connected")), extra={"device_class": "connectivity"}),
    Entity("mode", "select", "Charging mode",
           lambda s, _: s.get("mode") if s.get("mode") in MODES else None, extra={"options": list(MODES)}),
    Entity("paused", "switch", "Pause charging", lambda s, _: _on_off(bool(s.get("paused"))),
           extra={"icon": "mdi:pause-circle"}),
)


class MqttBridge:
    """Publishes the status and takes commands; `start()` connects in the background."""

    def __init__(self, settings: MqttSettings, *, get_status: Callable[[], dict],
                 command: Callable[..., dict], stale_after_s: float = 60.0, version: str = "",
                 clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.get_status = get_status
        self.command = command
        self.stale_after_s = stale_after_s
        self.version = version
        self.clock = clock
        self.prefix = settings.topic_prefix.strip("/")
        self.connected = threading.Event()
        self.listening = threading.Event()  # the broker has confirmed the command subscriptions
        self._subscribe_mid: int | None = None
        self._published: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refused = 0  # commands refused (too large, not JSON, not valid)
        self.client = self._make_client()

    # ------------------------------------------------------------ connection

    def _make_client(self):
        import paho.mqtt.client as mqtt  # only where MQTT is switched on

        s = self.settings
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=s.client_id)
        if s.username:
            client.username_pw_set(s.username, s.password or None)
        if s.tls:
            client.tls_set(ca_certs=s.tls_ca_file, cert_reqs=ssl.CERT_REQUIRED)
        client.will_set(self.topic("availability"), "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=120)  # doubles up to two minutes
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def topic(self, key: str) -> str:
        return f"{self.prefix}/{key}"

    def start(self) -> None:
        s = self.settings
        self.client.connect_async(s.host, s.port, keepalive=30)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="mqtt", daemon=True)
        self._thread.start()
        log.info("MQTT: connecting to %s port %d as %r (topics under %s/).", s.host, s.port, s.client_id, self.prefix)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        if self.connected.is_set():
            self.client.publish(self.topic("availability"), "offline", qos=1, retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            try:
                self.tick()
            except Exception:  # a bad status must not end the publisher
                log.exception("MQTT: publishing the state failed; trying again in a second.")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("MQTT: the broker %s refused the connection (%s): check [mqtt] username and password "
                      "in the settings.", self.settings.host, reason_code)
            return
        log.info("MQTT: connected to %s; Home Assistant finds the wallbox under %s/.",
                 self.settings.host, self.settings.discovery_prefix)
        client.publish(self.topic("availability"), "online", qos=1, retain=True)
        self.announce()
        _, self._subscribe_mid = client.subscribe([(self.topic(key), 1) for key in ("mode/set", "paused/set", "command")])
        with self._lock:
            self._published.clear()  # the broker may have lost retained values: send everything again
        self.connected.set()
        self.tick()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        if mid == self._subscribe_mid:
            if any(code.is_failure for code in reason_codes):
                log.error("MQTT: the broker refuses the command topics under %s/: allow the user to "
                          "subscribe to them in the broker's access list.", self.prefix)
            else:
                self.listening.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        self.listening.clear()
        if not self._stop.is_set():
            log.warning("MQTT: lost the broker %s (%s); reconnecting with growing pauses up to 2 min.",
                        self.settings.host, reason_code)

    # ------------------------------------------------------------ discovery and state

    def _device(self) -> dict:
        return {"identifiers": [f"{self.settings.client_id}"], "name": "Wallbox appliance",
                "manufacturer": "Wallbox appliance", "model": "Vestel EVC04 controller",
                "sw_version": self.version or "unknown"}

    def discovery(self, status: dict | None = None) -> dict[str, dict]:
        """Discovery topic -> payload for every entity (battery ones only with a battery)."""
        status = status if status is not None else self._status()
        has_battery = status.get("battery_w") is not None or status.get("soc_pct") is not None
        node = "".join(c if c.isalnum() or c in "_-" else "_" for c in self.settings.client_id)
        out = {}
        for e in ENTITIES:
            if e.battery_only and not has_battery:
                continue
            payload = {"name": e.name, "unique_id": f"{node}_{e.key}", "state_topic": self.topic(e.key),
                       "availability_topic": self.topic("availability"), "device": self._device(), **e.extra}
            if e.component in ("select", "switch"):
                payload["command_topic"] = self.topic(f"{e.key}/set")
            out[f"{self.settings.discovery_prefix}/{e.component}/{node}/{e.key}/config"] = payload
        return out

    def announce(self) -> None:
        for topic, payload in self.discovery().items():
            self.client.publish(topic, json.dumps(payload), qos=1, retain=True)

    def _status(self) -> dict:
        try:
            return self.get_status() or {}
        except Exception:
            log.exception("MQTT: the service's status could not be read.")
            return {}

    def tick(self) -> int:
        """Publishes what changed (measurements at most every min_interval_s); returns how many."""
        if not self.connected.is_set():
            return 0
        status = self._status()
        if not status:
            return 0
        now = self.clock()
        sent = 0
        with self._lock:
            for e in ENTITIES:
                value = e.read(status, self.stale_after_s)
                if value is None or (e.battery_only and value == "None"):
                    continue
                last = self._published.get(e.key)
                if last is not None and (last[0] == value or
                                         (e.measurement and now - last[1] < self.settings.min_interval_s)):
                    continue
                self.client.publish(self.topic(e.key), value, qos=0, retain=True)
                self._published[e.key] = (value, now)
                sent += 1
        return sent

    # ------------------------------------------------------------ commands

    def _on_message(self, client, userdata, message) -> None:
        key = message.topic[len(self.prefix) + 1:]
        answer = self.handle(key, message.payload)
        client.publish(self.topic("command/result"), json.dumps(answer), qos=0, retain=False)
        if answer.get("ok"):
            self.tick()

    def handle(self, key: str, payload: bytes) -> dict:
        """A command message -> the answer (validated as the control socket does)."""
        if len(payload) > MAX_PAYLOAD_BYTES:
            return self._refuse(f"The command on {self.topic(key)} is too large: at most {MAX_PAYLOAD_BYTES} bytes.")
        text = payload.decode("utf-8", errors="replace").strip()
        if key == "mode/set":
            request = {"command": "mode", "mode": text.lower()}
        elif key == "paused/set":
            if text.upper() not in ("ON", "OFF"):
                return self._refuse(f"{self.topic(key)} takes ON (pause) or OFF (resume), not {text[:20]!r}.")
            request = {"command": "pause"} if text.upper() == "ON" else {"command": "resume"}
        else:
            try:
                request = json.loads(text)
            except ValueError:
                return self._refuse(f'{self.topic("command")} takes JSON, e.g. {{"command": "pause", "minutes": 30}}.')
        checked, error = validate(request)
        if checked is None:
            return self._refuse(error)
        name = checked.pop("command")
        try:
            return self.command(name, **checked)
        except Exception as e:
            log.exception("MQTT: the command %s failed.", name)
            return {"ok": False, "error": f"The service did not take the command ({e})."}

    def _refuse(self, message: str) -> dict:
        self.refused += 1
        log.warning("MQTT: a command was refused: %s", message)
        return {"ok": False, "error": message}
