"""The web page in a real browser: Debian's chromium, headless, driven by selenium with the
system's chromedriver. One browser for the module; screenshots for the README at phone and
desktop width (`WALLBOX_SCREENSHOTS=notes pytest tests/test_web_browser.py` saves them)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest

from appliance.config import FroniusSettings, Settings
from appliance.loglines import LogRing
from display.samples import samples
from display.snapshot import Snapshot
from appliance.web import WebServer
from waiting import wait_until
from web_standin import SESSIONS_CSV, StandInService, filled_history

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
pytestmark = pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
                                reason="needs Debian's chromium and chromium-driver (./bootstrap test installs them)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--hide-scrollbars",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_window_size(1200, 1000)
    yield driver
    driver.quit()


def start_page(tmp_path, password: str) -> tuple[WebServer, StandInService]:
    service = StandInService()
    csv_path = tmp_path / "sessions.csv"
    csv_path.write_text(SESSIONS_CSV)
    history_dir = tmp_path / "history"
    history_dir.mkdir()
    (history_dir / "2026-06-20.csv").write_text("minute,pv_w,house_w,car_w,allowance_w,battery_w\n"
                                                "12:00,7000,400,0,11000,-500\n12:01,7100,420,0,11000,-450\n")
    ring = LogRing()
    import logging
    ring.handle(logging.LogRecord("appliance", logging.INFO, __file__, 1,
                                  "Charging at 16 A: 11.0 kW allowance + 5.6 kW PV.", (), None))
    server = WebServer(get_status=service.status, command=service.command, sessions_csv=csv_path,
                       history=filled_history(history_dir), log_lines=ring, password=password,
                       settings=Settings(fronius=FroniusSettings(ftp_password="push-secret")),
                       get_snapshot=lambda: panel_snapshot(service.status()),
                       host="127.0.0.1", port=0, stale_after_s=60, poll_interval_s=0.02)
    server.start()
    return server, service


def panel_snapshot(status: dict) -> Snapshot:
    """What the runtime would hand the screen for this status (enough for the picture)."""
    base = samples()["charging_fast_sun"]
    paused = status["paused"]
    return base.replace(now=datetime.now(), mode=status["mode"], charging=not paused, car_power_w=status["car_w"],
                        setpoint_a=status["setpoint_a"], current_a=status["setpoint_a"] - 0.2 if not paused else 0.0,
                        pv_w=status["pv_w"], grid_w=status["grid_w"], budget_w=status["budget_w"],
                        waiting_for="paused" if paused else None)


def text(driver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def test_the_page_shows_state_chart_sessions_and_changes_with_the_password(browser, tmp_path):
    server, service = start_page(tmp_path, password="sun-and-amps")
    try:
        browser.get(server.url + "?poll_ms=250")
        assert wait_until(lambda: text(browser, "state-word") == "CHARGING", 5)
        assert text(browser, "car-kw") == "11.0" and text(browser, "pv") == "5.6 kW"
        assert text(browser, "grid") == "+0.3 kW import"
        assert wait_until(lambda: browser.execute_script("return document.getElementById('screen').naturalWidth")
                          == 320, 5)
        assert wait_until(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#chart polyline")) >= 4, 5)
        assert browser.find_element(By.CSS_SELECTOR, "#chart polyline.series-pv").get_attribute("points").count(",") > 400
        # An earlier day from the card, chosen from the list, with its battery line.
        from selenium.webdriver.support.ui import Select

        Select(browser.find_element(By.ID, "chart-day")).select_by_visible_text("2026-06-20")
        assert wait_until(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#chart polyline.series-battery")) == 1, 5)
        assert text(browser, "chart-title") == "2026-06-20"
        Select(browser.find_element(By.ID, "chart-day")).select_by_visible_text("today")
        assert wait_until(lambda: text(browser, "chart-title") == "Today", 5)
        rows = browser.find_elements(By.CSS_SELECTOR, "#sessions tbody tr")
        assert len(rows) == 3 and "41.2" in rows[0].text
        assert "2026-11" in text(browser, "months") and "Open session: 5.23 kWh" in text(browser, "open-session")
        assert "Charging at 16 A" in text(browser, "log")
        browser.find_element(By.CSS_SELECTOR, "#settings-box summary").click()
        assert "ftp_password\n\"(set)\"" in text(browser, "settings") and "push-secret" not in browser.page_source
        browser.find_element(By.CSS_SELECTOR, "#settings-box summary").click()

        # Before the login no control is offered; the login form is.
        assert not browser.find_element(By.ID, "controls").is_displayed()
        browser.find_element(By.ID, "password").send_keys("wrong")
        browser.find_element(By.CSS_SELECTOR, "#login button").click()
        assert wait_until(lambda: "Wrong password" in text(browser, "message"), 5)
        assert service.commands == []
        server.auth.clock = lambda: 1e9  # a second later for the login rate limit
        browser.find_element(By.ID, "password").send_keys("sun-and-amps")
        browser.find_element(By.CSS_SELECTOR, "#login button").click()
        assert wait_until(lambda: browser.find_element(By.ID, "controls").is_displayed(), 5)

        # The state changes while the page stays open: no reload.
        service.figures["car_w"] = 7300.0
        assert wait_until(lambda: text(browser, "car-kw") == "7.3", 5)

        save_screenshots(browser)
        browser.find_element(By.CSS_SELECTOR, "button.mode[data-mode='pv']").click()
        assert wait_until(lambda: service.status()["mode"] == "pv", 5)
        assert wait_until(lambda: "Mode set to PV only" in text(browser, "message"), 5)
        browser.find_element(By.ID, "pause").click()
        assert wait_until(lambda: text(browser, "state-word") == "PAUSED", 5)
        assert service.commands[-1] == ("pause", {"minutes": 60})
        browser.find_element(By.ID, "resume").click()
        assert wait_until(lambda: text(browser, "state-word") == "CHARGING", 5)

        # A hidden page (a background tab, a phone in a pocket) asks nothing.
        assert wait_until(lambda: server.api_requests.get("/api/state", 0) >= 3, 5)
        browser.execute_script("Object.defineProperty(document, 'hidden', {value: true, configurable: true});"
                               "document.dispatchEvent(new Event('visibilitychange'));")
        polls = server.api_requests["/api/state"]
        assert not wait_until(lambda: server.api_requests["/api/state"] > polls + 1, 1.0)
    finally:
        server.stop()


def test_without_a_password_the_page_offers_no_controls(browser, tmp_path):
    server, service = start_page(tmp_path, password="")
    try:
        browser.get(server.url)
        assert wait_until(lambda: browser.find_element(By.ID, "readonly").is_displayed(), 5)
        assert not browser.find_element(By.ID, "login").is_displayed()
        assert not browser.find_element(By.ID, "controls").is_displayed()
        # A change sent from the page's own script anyway is refused by the server.
        answer = browser.execute_async_script(
            "const done = arguments[0]; fetch('/api/command', {method: 'POST', headers: {'Content-Type': "
            "'application/json'}, body: JSON.stringify({command: 'mode', mode: 'off'})})"
            ".then(r => r.json().then(j => done([r.status, j.error])));")
        assert answer[0] == 403 and "[web]" in answer[1]
        assert service.commands == []
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not [e for e in errors if "Content Security Policy" in e["message"]], errors
    finally:
        server.stop()


def save_screenshots(browser) -> None:
    out = os.environ.get("WALLBOX_SCREENSHOTS")
    if not out:
        return
    from PIL import Image

    Path(out).mkdir(parents=True, exist_ok=True)
    for name, width in (("web-phone", 390), ("web-desktop", 1200)):
        browser.set_window_size(width, 3000)
        wait_until(lambda: abs(browser.execute_script(
            "return document.querySelector('#chart svg').viewBox.baseVal.width") -
            browser.execute_script("return document.getElementById('chart').clientWidth")) < 2, 2)
        bottom = browser.execute_script("return Math.ceil(document.querySelector('main').getBoundingClientRect().bottom)")
        path = Path(out) / f"{name}.png"
        browser.save_screenshot(str(path))
        with Image.open(path) as shot:
            shot.crop((0, 0, shot.width, min(shot.height, bottom + 8))).save(path)
    browser.set_window_size(1200, 1000)
