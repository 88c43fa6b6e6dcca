"""MQTT against a real Mosquitto broker on loopback: retained state, last will, Home Assistant
discovery, validated commands, publishing on change only, reconnect, and a password broker."""

from __future__ import annotations

import getpass
import json
import shutil
import socket
import subprocess
import threading

import paho.mqtt.client as mqtt
import pytest

from appliance.mqtt import ENTITIES, MqttBridge, MqttSettings
from waiting import wait_until
from web_standin import StandInService

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
pytestmark = pytest.mark.skipif(not shutil.which(MOSQUITTO),
                                reason="needs Debian's mosquitto (./bootstrap test installs it)")

# What Home Assistant's MQTT integrations require (home-assistant.io/integrations/<component>.mqtt):
# sensor and binary_sensor need state_topic; select needs command_topic and options; switch needs
# command_topic. A device needs identifiers (or connections) and entities in it need unique_id.
REQUIRED = {"sensor": {"state_topic"}, "binary_sensor": {"state_topic"},
            "select": {"command_topic", "options"}, "switch": {"command_topic"}}
POWER_UNITS = {"power": {"W", "kW"}, "energy": {"Wh", "kWh"}, "current": {"A", "mA"}, "battery": {"%"}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(tmp_path, extra: str = "allow_anonymous true\n"):
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    # Started as root, mosquitto drops to its own user, who could not read the test's files.
    config.write_text(f"listener {port} 127.0.0.1\npersistence false\nuser {getpass.getuser()}\n{extra}")
    process = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def accepting() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False
    assert wait_until(accepting, 5), process.stderr.read1().decode() if process.poll() is not None else "no broker"
    return process, port


def stop_broker(process) -> None:
    process.terminate()
    process.wait(5)
    process.stderr.close()


@pytest.fixture
def broker(tmp_path):
    process, port = start_broker(tmp_path)
    yield port
    stop_broker(process)


class Listener:
    """A plain MQTT client recording every message (retained ones included)."""

    def __init__(self, port: int, topics: str = "#", **auth):
        self.messages: list[tuple[str, str, bool]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"listener-{id(self)}")
        if auth:
            self.client.username_pw_set(auth["username"], auth["password"])
        subscribed = threading.Event()
        self.client.on_message = self._message
        self.client.on_connect = lambda c, *a: c.subscribe(topics, qos=1)
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(5), "the test's listener could not subscribe"

    def _message(self, client, userdata, message) -> None:
        with self.lock:
            self.messages.append((message.topic, message.payload.decode(), bool(message.retain)))

    def last(self, topic: str) -> str | None:
        with self.lock:
            found = [payload for t, payload, _ in self.messages if t == topic]
        return found[-1] if found else None

    def count(self, topic: str) -> int:
        with self.lock:
            return sum(1 for t, _, _ in self.messages if t == topic)

    def close(self) -> None:
        self.client.disconnect()  # first, so the network loop wakes and ends at once
        self.client.loop_stop()


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def make_bridge(port: int, service: StandInService, clock=None, **settings) -> MqttBridge:
    bridge = MqttBridge(MqttSettings(host="127.0.0.1", port=port, client_id="wallbox-test", **settings),
                        get_status=service.status, command=service.command, stale_after_s=60, version="0.1.0",
                        clock=clock or Clock())
    bridge.start()
    assert bridge.listening.wait(5)  # connected and subscribed to its command topics
    return bridge


def test_state_is_retained_with_availability_and_discovery_fits_home_assistant(broker):
    service = StandInService()
    service.figures.update(battery_w=-800.0, soc_pct=62.0)
    bridge = make_bridge(broker, service)
    try:
        first = Listener(broker)
        assert wait_until(lambda: first.last("wallbox/mode") == "fast", 5)
        first.close()
        listener = Listener(broker)  # joins after the publish: sees only what is retained
        assert wait_until(lambda: listener.last("wallbox/mode") == "fast", 5)
        # The broker sends the retained messages in no fixed order: wait for the discovery ones too.
        wait_until(lambda: sum(t.startswith("homeassistant/") for t, _, _ in list(listener.messages))
                   >= len(ENTITIES), 5)
        assert listener.last("wallbox/availability") == "online"
        assert listener.last("wallbox/charging_power_w") == "10970" and listener.last("wallbox/pv_w") == "5600"
        assert listener.last("wallbox/car_connected") == "ON" and listener.last("wallbox/data_stale") == "OFF"
        assert listener.last("wallbox/session_energy_wh") == "5230" and listener.last("wallbox/soc_pct") == "62"
        configs = {t: json.loads(p) for t, p, retained in listener.messages if t.startswith("homeassistant/")}
        assert all(retained for t, _, retained in listener.messages if t.startswith("homeassistant/"))
        check_discovery(configs)
        listener.close()
    finally:
        bridge.stop()


def check_discovery(configs: dict[str, dict]) -> None:
    assert len(configs) == len(ENTITIES)
    components = set()
    for topic, payload in configs.items():
        prefix, component, node, object_id, tail = topic.split("/")
        assert (prefix, node, tail) == ("homeassistant", "wallbox-test", "config")
        assert all(c.isalnum() or c in "_-" for c in node + object_id)
        components.add(component)
        missing = REQUIRED[component] - payload.keys()
        assert not missing, f"{topic} lacks {missing}"
        assert payload["unique_id"] and payload["device"]["identifiers"] == ["wallbox-test"]
        assert payload["availability_topic"] == "wallbox/availability"
        if "device_class" in payload and payload["device_class"] in POWER_UNITS:
            assert payload["unit_of_measurement"] in POWER_UNITS[payload["device_class"]]
        if component == "select":
            assert payload["options"] == ["fast", "pv", "minpv", "off"]
    assert components == {"sensor", "binary_sensor", "select", "switch"}
    assert len({p["unique_id"] for p in configs.values()}) == len(configs)


def test_commands_are_validated_and_applied(broker):
    service = StandInService()
    bridge = make_bridge(broker, service)
    listener = Listener(broker)
    try:
        listener.client.publish("wallbox/mode/set", "pv", qos=1)
        assert wait_until(lambda: listener.last("wallbox/mode") == "pv", 5)
        listener.client.publish("wallbox/mode/set", "turbo", qos=1)
        assert wait_until(lambda: "Unknown mode 'turbo'" in (listener.last("wallbox/command/result") or ""), 5)
        listener.client.publish("wallbox/paused/set", "ON", qos=1)
        assert wait_until(lambda: listener.last("wallbox/paused") == "ON", 5)
        listener.client.publish("wallbox/command", json.dumps({"command": "pause", "minutes": -5}), qos=1)
        assert wait_until(lambda: "minutes" in (listener.last("wallbox/command/result") or ""), 5)
        listener.client.publish("wallbox/paused/set", "OFF", qos=1)
        assert wait_until(lambda: listener.last("wallbox/paused") == "OFF", 5)
        listener.client.publish("wallbox/command", "x" * 1000, qos=1)
        assert wait_until(lambda: "too large" in (listener.last("wallbox/command/result") or ""), 5)
        assert [name for name, _ in service.commands] == ["mode", "pause", "resume"]
    finally:
        listener.close()
        bridge.stop()


def test_values_are_published_on_change_and_measurements_rate_limited(broker):
    service, clock = StandInService(), Clock()
    bridge = make_bridge(broker, service, clock=clock, min_interval_s=10)
    listener = Listener(broker, "wallbox/+")
    try:
        assert wait_until(lambda: listener.count("wallbox/charging_power_w") == 1, 5)
        for _ in range(5):
            assert bridge.tick() == 0  # nothing changed: nothing sent
        service.figures["car_w"] = 7300.0
        clock.t += 3
        assert bridge.tick() == 0  # changed, but the last one went out 3 s ago
        service.command("mode", mode="minpv")
        assert bridge.tick() == 1  # the mode goes out at once
        clock.t += 10
        assert bridge.tick() == 1
        assert wait_until(lambda: listener.last("wallbox/charging_power_w") == "7300", 5)
        assert listener.count("wallbox/charging_power_w") == 2 and listener.last("wallbox/mode") == "minpv"
    finally:
        listener.close()
        bridge.stop()


def test_a_lost_connection_shows_offline_by_the_last_will_and_the_bridge_comes_back(broker):
    service = StandInService()
    bridge = make_bridge(broker, service)
    listener = Listener(broker, "wallbox/availability")
    try:
        assert wait_until(lambda: listener.last("wallbox/availability") == "online", 5)
        bridge.client.socket().close()  # the network goes away without a clean goodbye
        assert wait_until(lambda: "offline" in [p for _, p, _ in listener.messages], 5)
        assert wait_until(lambda: listener.last("wallbox/availability") == "online", 10)
        assert wait_until(bridge.connected.is_set, 5)
    finally:
        listener.close()
        bridge.stop()


def test_stop_says_offline(broker):
    bridge = make_bridge(broker, StandInService())
    bridge.stop()
    listener = Listener(broker, "wallbox/availability")
    assert wait_until(lambda: listener.last("wallbox/availability") == "offline", 5)
    listener.close()


def test_username_and_password_are_used_and_a_refusal_is_logged_clearly(tmp_path, caplog):
    passwords = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "wallbox", "s3cret"], check=True,
                   capture_output=True)
    passwords.chmod(0o600)
    process, port = start_broker(tmp_path, f"allow_anonymous false\npassword_file {passwords}\n")
    try:
        bridge = make_bridge(port, StandInService(), username="wallbox", password="s3cret")
        listener = Listener(port, username="wallbox", password="s3cret")
        assert wait_until(lambda: listener.last("wallbox/availability") == "online", 5)
        listener.close()
        bridge.stop()
        wrong = MqttBridge(MqttSettings(host="127.0.0.1", port=port, username="wallbox", password="nope"),
                           get_status=StandInService().status, command=StandInService().command)
        wrong.start()
        assert wait_until(lambda: "check [mqtt] username and password" in caplog.text, 5)
        assert not wrong.connected.is_set()
        wrong.stop()
    finally:
        stop_broker(process)


def test_tls_to_a_broker_with_its_own_certificate(tmp_path):
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("needs openssl to make a test certificate")
    cert, key = tmp_path / "broker.crt", tmp_path / "broker.key"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    process, port = start_broker(tmp_path, f"allow_anonymous true\ncafile {cert}\ncertfile {cert}\nkeyfile {key}\n")
    try:
        bridge = make_bridge(port, StandInService(), tls=True, tls_ca_file=str(cert))
        assert bridge.connected.is_set()
        bridge.stop()
    finally:
        stop_broker(process)


def test_settings_come_from_the_mqtt_section_by_name():
    from types import SimpleNamespace

    section = SimpleNamespace(host="broker.lan", port=8883, username="u", password="p", tls=True,
                              topic_prefix="garage/wallbox", discovery_prefix="ha", client_id="wb1")
    settings = MqttSettings.from_section(section)
    assert (settings.host, settings.port, settings.tls, settings.topic_prefix, settings.client_id) == \
        ("broker.lan", 8883, True, "garage/wallbox", "wb1")
    bridge = MqttBridge(settings, get_status=dict, command=lambda name, **a: {"ok": True})
    topics = bridge.discovery({"mode": "fast"})
    assert all(t.startswith("ha/") and t.endswith("/wb1/" + t.split("/")[-2] + "/config") for t in topics)
    assert next(iter(topics.values()))["availability_topic"] == "garage/wallbox/availability"
