"""The web page's server over real HTTP on loopback: headers, read-only, login, CSRF, lockout,
input limits, and the JSON the page draws from."""

from __future__ import annotations

import http.client
import json
import logging
from datetime import date

import pytest

from appliance.config import FroniusSettings, Settings
from appliance.loglines import LogRing
from appliance.web import WebServer
from appliance.web.auth import LOCKOUT_S, MAX_FAILURES
from web_standin import SESSIONS_CSV, StandInService, filled_history


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def call(server: WebServer, method: str, path: str, body=None, headers: dict | None = None, raw: bytes | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    send_headers = {"Content-Type": "application/json"} if data is not None else {}
    send_headers.update(headers or {})
    conn.request(method, path, body=data, headers=send_headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    content_type = response.getheader("Content-Type", "")
    return response.status, response, (json.loads(payload) if content_type == "application/json" else payload)


@pytest.fixture
def service():
    return StandInService()


def make_server(service, tmp_path, password="", clock=None, **extra) -> WebServer:
    csv_path = tmp_path / "sessions.csv"
    csv_path.write_text(SESSIONS_CSV)
    return WebServer(get_status=service.status, command=service.command, sessions_csv=csv_path,
                     host="127.0.0.1", port=0, password=password, clock=clock or Clock(), stale_after_s=60,
                     poll_interval_s=0.02,
                     **extra)


def login(server: WebServer, password: str) -> tuple[str, str]:
    status, response, answer = call(server, "POST", "/api/login", {"password": password})
    assert status == 200, answer
    cookie = response.getheader("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return cookie.split(";")[0], answer["csrf"]


def test_every_answer_carries_strict_security_headers(service, tmp_path):
    with make_server(service, tmp_path) as server:
        for path in ("/", "/app.js", "/api/state", "/nowhere"):
            _, response, _ = call(server, "GET", path)
            csp = response.getheader("Content-Security-Policy")
            assert "unsafe-inline" not in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert response.getheader("X-Frame-Options") == "DENY"
            assert response.getheader("X-Content-Type-Options") == "nosniff"
        _, _, page = call(server, "GET", "/")
        assert b"<script>" not in page and b"style=" not in page and b"http" not in page.replace(b"http-equiv", b"")


def test_the_live_state_comes_from_the_status(service, tmp_path):
    with make_server(service, tmp_path) as server:
        status, _, state = call(server, "GET", "/api/state")
        assert status == 200
        assert state["state"] == "charging" and state["car_w"] == 10970 and state["pv_stale"] is False
        service.command("pause", minutes=None)
        assert call(server, "GET", "/api/state")[2]["state"] == "paused"


def test_without_a_password_the_page_is_read_only_and_says_how_to_change_that(service, tmp_path):
    with make_server(service, tmp_path) as server:
        assert call(server, "GET", "/api/session")[2] == {"password_set": False, "logged_in": False, "csrf": None}
        status, _, answer = call(server, "POST", "/api/login", {"password": "anything"})
        assert status == 403 and "[web]" in answer["error"]
        status, _, answer = call(server, "POST", "/api/command", {"command": "mode", "mode": "off"})
        assert status == 403 and "[web]" in answer["error"]
    assert service.commands == []


def test_a_change_needs_the_login_cookie_and_the_csrf_token(service, tmp_path):
    clock = Clock()
    with make_server(service, tmp_path, password="sun-and-amps", clock=clock) as server:
        status, _, answer = call(server, "POST", "/api/command", {"command": "mode", "mode": "pv"})
        assert status == 403 and "Log in" in answer["error"]
        assert call(server, "POST", "/api/login", {"password": "wrong"})[0] == 401
        clock.t += 1
        cookie, csrf = login(server, "sun-and-amps")
        status, _, _ = call(server, "POST", "/api/command", {"command": "mode", "mode": "pv"}, {"Cookie": cookie})
        assert status == 403 and service.commands == []  # the cookie alone is not enough
        status, _, _ = call(server, "POST", "/api/command", {"command": "mode", "mode": "pv"},
                            {"Cookie": cookie, "X-CSRF-Token": "forged"})
        assert status == 403 and service.commands == []
        status, _, answer = call(server, "POST", "/api/command", {"command": "mode", "mode": "pv"},
                                 {"Cookie": cookie, "X-CSRF-Token": csrf})
        assert status == 200 and answer["mode"] == "pv" and service.status()["mode"] == "pv"
        call(server, "POST", "/api/logout", {}, {"Cookie": cookie, "X-CSRF-Token": csrf})
        status, _, _ = call(server, "POST", "/api/command", {"command": "resume"},
                            {"Cookie": cookie, "X-CSRF-Token": csrf})
        assert status == 403


def test_commands_are_validated_like_the_control_socket(service, tmp_path):
    with make_server(service, tmp_path, password="pw") as server:
        cookie, csrf = login(server, "pw")
        auth = {"Cookie": cookie, "X-CSRF-Token": csrf}
        status, _, answer = call(server, "POST", "/api/command", {"command": "mode", "mode": "turbo"}, auth)
        assert status == 400 and "fast" in answer["error"]
        status, _, answer = call(server, "POST", "/api/command", {"command": "pause", "minutes": 1e9}, auth)
        assert status == 400 and "minutes" in answer["error"]
        status, _, answer = call(server, "POST", "/api/command", {"command": "reboot"}, auth)
        assert status == 400 and "Unknown command" in answer["error"]
        assert service.commands == []
        status, _, answer = call(server, "POST", "/api/command", {"command": "pause", "minutes": 30}, auth)
        assert status == 200 and service.commands == [("pause", {"minutes": 30})]


def test_repeated_wrong_passwords_lock_the_client_out_for_a_while(service, tmp_path):
    clock = Clock()
    with make_server(service, tmp_path, password="right", clock=clock) as server:
        for _ in range(MAX_FAILURES - 1):
            assert call(server, "POST", "/api/login", {"password": "guess"})[0] == 401
            clock.t += 2
        status, response, answer = call(server, "POST", "/api/login", {"password": "guess"})
        assert status == 429 and "Locked" in answer["error"]
        clock.t += 2
        status, response, answer = call(server, "POST", "/api/login", {"password": "right"})
        assert status == 429 and int(response.getheader("Retry-After")) > 0  # even the right one waits
        clock.t += LOCKOUT_S
        login(server, "right")


def test_login_attempts_faster_than_one_a_second_are_refused(service, tmp_path):
    with make_server(service, tmp_path, password="right") as server:
        assert call(server, "POST", "/api/login", {"password": "guess"})[0] == 401
        status, _, answer = call(server, "POST", "/api/login", {"password": "right"})
        assert status == 429 and "second" in answer["error"]


def test_oversized_foreign_and_malformed_requests_get_clear_refusals(service, tmp_path):
    with make_server(service, tmp_path, password="pw") as server:
        status, _, answer = call(server, "POST", "/api/login", raw=b'{"password": "' + b"x" * 5000 + b'"}')
        assert status == 413 and "at most 1024 bytes" in answer["error"]
        status, _, answer = call(server, "POST", "/api/login", raw=b"password=pw",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 415 and "JSON" in answer["error"]
        status, _, answer = call(server, "POST", "/api/login", {"password": "pw"}, {"Origin": "http://evil.example"})
        assert status == 403 and "own page" in answer["error"]
        status, _, answer = call(server, "POST", "/api/login", raw=b"[1, 2")
        assert status == 400 and "JSON object" in answer["error"]
        status, _, answer = call(server, "GET", "/api/history?day=yesterday")
        assert status == 400 and "2026-06-21" in answer["error"]


def test_settings_are_shown_with_every_password_hidden(service, tmp_path):
    from appliance.config import MqttSettings, WebSettings

    settings = Settings(fronius=FroniusSettings(ftp_password="push-secret-42"),
                        web=WebSettings(password="web-secret-43"), mqtt=MqttSettings(password="mqtt-secret-44"))
    with make_server(service, tmp_path, settings=settings) as server:
        status, _, raw = call(server, "GET", "/api/settings", headers={"Accept": "application/json"})
        assert status == 200
        assert raw["fronius"]["ftp_password"] == "(set)" and raw["grid"]["allowance_w"] == settings.grid.allowance_w
        assert raw["web"]["password"] == "(set)" and raw["mqtt"]["password"] == "(set)"
        assert not any(secret in json.dumps(raw) for secret in ("push-secret-42", "web-secret-43", "mqtt-secret-44"))


def test_sessions_come_with_monthly_totals_and_the_open_session(service, tmp_path):
    with make_server(service, tmp_path) as server:
        data = call(server, "GET", "/api/sessions")[2]
    assert [s["start"][:10] for s in data["sessions"]] == ["2026-11-20", "2026-11-02", "2026-10-03"]
    assert data["months"][0] == {"month": "2026-11", "sessions": 2, "energy_kwh": 65.5, "pv_kwh": 15.8,
                                 "pv_share_pct": 24}
    assert data["open"] == {"energy_kwh": 5.23}


def test_history_and_log_lines_feed_the_chart_and_the_log(service, tmp_path):
    ring = LogRing()
    ring.handle(logging.LogRecord("appliance", logging.WARNING, __file__, 1, "Inverter data is 95 s old.", (), None))
    history = filled_history(tmp_path / "history")
    with make_server(service, tmp_path, history=history, log_lines=ring) as server:
        chart = call(server, "GET", "/api/history")[2]
        log = call(server, "GET", "/api/log")[2]
        old = call(server, "GET", "/api/history?day=2026-06-01")[2]
    assert chart["day"] == date(2026, 6, 21).isoformat() and len(chart["minutes"]) == 480
    assert chart["minutes"][0][0] == "06:00" and chart["has_battery"] is False
    assert log["lines"][-1]["message"] == "Inverter data is 95 s old." and log["lines"][-1]["level"] == "WARNING"
    assert old["minutes"] == []


def test_a_failing_status_does_not_take_the_page_down(tmp_path):
    def broken() -> dict:
        raise RuntimeError("status not ready")
    server = WebServer(get_status=broken, command=lambda name, **a: {"ok": True}, host="127.0.0.1", port=0,
                       poll_interval_s=0.02)
    with server:
        status, _, state = call(server, "GET", "/api/state")
    assert status == 200 and state["state"] == "starting"


def test_the_front_panel_picture_is_served_when_the_runtime_gives_a_snapshot(service, tmp_path):
    import io

    from PIL import Image

    from display.samples import samples

    with make_server(service, tmp_path, get_snapshot=lambda: samples()["charging_fast_sun"]) as server:
        status, response, body = call(server, "GET", "/screen.png")
    assert status == 200 and response.getheader("Content-Type") == "image/png"
    with Image.open(io.BytesIO(body)) as picture:
        assert picture.size == (320, 256)
        assert picture.convert("RGB").getpixel((4, 4)) == (0, 210, 80)  # the green CHARGING header
    with make_server(service, tmp_path) as server:
        assert call(server, "GET", "/screen.png")[0] == 404


def test_idle_connections_hold_at_most_a_few_threads_and_do_not_block_stop(service, tmp_path):
    import socket
    import threading

    from appliance.web.server import MAX_THREADS
    from waiting import wait_until

    server = make_server(service, tmp_path)
    server.start()
    before = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(MAX_THREADS + 6)]
    try:
        assert wait_until(lambda: threading.active_count() - before == MAX_THREADS, 5)
        assert not wait_until(lambda: threading.active_count() - before > MAX_THREADS, 0.3)
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        stopper.join(timeout=3)
        assert not stopper.is_alive()  # well before the idle clients' 10 s time-out
    finally:
        for conn in idle:
            conn.close()


def test_a_failing_part_answers_500_and_the_server_goes_on(service, tmp_path, caplog):
    class BrokenHistory:
        def day(self, day=None):
            raise OSError("card gone")

        def today(self):
            return date(2026, 6, 21)

        def days(self):
            return []

    with make_server(service, tmp_path, history=BrokenHistory()) as server:
        status, _, answer = call(server, "GET", "/api/history")
        assert status == 500 and "log" in answer["error"]
        assert call(server, "GET", "/api/state")[0] == 200
    assert "card gone" in caplog.text
