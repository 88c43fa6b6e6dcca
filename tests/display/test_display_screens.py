"""The screens: which one a snapshot gets, what it looks like (golden images), and purity."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from display import screens
from display.samples import samples
from display.screens import render, screen_name
from display.snapshot import Snapshot

GOLDEN = Path(__file__).with_name("golden")
# Font rasterising differs a little between FreeType versions; a changed screen differs a lot.
MAX_MEAN_DIFF = 1.5  # mean absolute difference per channel, 0..255
MAX_CHANGED_SHARE = 0.01  # share of pixels differing by more than 64 in any channel


def difference(a: Image.Image, b: Image.Image) -> tuple[float, float]:
    """(mean absolute channel difference, share of strongly changed pixels)."""
    assert a.size == b.size
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    channels = diff.tobytes()
    mean = sum(channels) / len(channels)
    strong = diff.point(lambda v: 255 if v > 64 else 0).convert("L").point(lambda v: 255 if v else 0)
    changed = strong.histogram()[255] / (a.width * a.height)
    return mean, changed


def within_tolerance(a: Image.Image, b: Image.Image) -> bool:
    mean, changed = difference(a, b)
    return mean <= MAX_MEAN_DIFF and changed <= MAX_CHANGED_SHARE


def test_every_sample_has_a_golden_image_and_no_golden_is_orphaned():
    assert sorted(p.stem for p in GOLDEN.glob("*.png")) == sorted(samples())


@pytest.mark.parametrize("name", sorted(samples()))
def test_screen_matches_its_golden_image(name):
    picture = render(samples()[name])
    assert picture.size == (160, 128) and picture.mode == "RGB"
    with Image.open(GOLDEN / f"{name}.png") as golden:
        mean, changed = difference(picture, golden)
    assert mean <= MAX_MEAN_DIFF and changed <= MAX_CHANGED_SHARE, (
        f"{name} differs from its golden image (mean {mean:.2f}, {changed:.1%} of pixels changed). "
        f"If the change is intended: python -m display.samples --golden tests/display/golden, look, commit."
    )


def test_the_comparison_notices_a_changed_figure_and_a_changed_state():
    charging = samples()["charging_fast_sun"]
    with Image.open(GOLDEN / "charging_fast_sun.png") as golden:
        golden = golden.convert("RGB")
    assert within_tolerance(render(charging), golden)
    assert not within_tolerance(render(charging.replace(car_power_w=7300.0)), golden)
    assert not within_tolerance(render(charging.replace(mode="pv")), golden)
    assert not within_tolerance(render(samples()["waiting_sun"]), golden)


def test_every_screen_is_covered_by_a_sample():
    assert {screen_name(s) for s in samples().values()} == set(screens._HEADERS)


BASE = Snapshot(now=datetime(2024, 1, 1, 12, 0), version="1.2.3", car_connected=True)


@pytest.mark.parametrize(
    "changes, expected",
    [
        (dict(starting=True), "starting"),
        (dict(starting=True, settings_error="x is wrong"), "problem"),
        (dict(wallbox_offline=True, charging=True), "problem"),
        (dict(charging=True, inverter_stale=True), "charging"),
        (dict(waiting_for="paused"), "paused"),
        (dict(waiting_for="paused", car_connected=False), "paused"),
        (dict(waiting_for="sun", mode="pv"), "waiting"),
        (dict(waiting_for="schedule", mode="off"), "waiting"),
        (dict(waiting_for="off", mode="off"), "off"),
        (dict(mode="off"), "off"),
        (dict(car_connected=False), "no_car"),
        (dict(car_connected=None), "no_car"),
    ],
)
def test_screen_choice(changes, expected):
    assert screen_name(BASE.replace(**changes)) == expected


@pytest.mark.parametrize(
    "changes, colour",
    [
        (dict(charging=True), screens.GREEN),
        (dict(wallbox_offline=True), screens.RED),
        (dict(waiting_for="paused"), screens.AMBER),
        (dict(waiting_for="sun", mode="pv"), screens.BLUE),
    ],
)
def test_header_colour_says_the_state(changes, colour):
    picture = render(BASE.replace(**changes))
    assert picture.getpixel((2, 2)) == colour


def test_render_is_pure_and_the_clock_changes_the_picture():
    snapshot = samples()["charging_pv"]
    assert render(snapshot).tobytes() == render(snapshot).tobytes()
    later = snapshot.replace(now=snapshot.now.replace(minute=snapshot.now.minute + 1))
    assert render(later).tobytes() != render(snapshot).tobytes()


def test_pause_countdown_rounds_up_and_changes_at_most_every_5_seconds():
    paused = BASE.replace(waiting_for="paused", pause_remaining_s=61.2)
    pictures = {render(paused.replace(pause_remaining_s=64.9 - 0.5 * k)).tobytes() for k in range(10)}
    assert len(pictures) == 1  # 64.9 s down to 60.4 s: one picture ("1:05")
    assert render(paused).tobytes() != render(paused.replace(pause_remaining_s=60.0)).tobytes()


def test_absurd_and_missing_values_still_draw():
    odd = BASE.replace(
        charging=True, car_power_w=-5.0, pv_w=-300.0, pv_age_s=7200.0, grid_w=1e7, budget_w=0.0,
        current_a=-1.0, setpoint_a=6,
    )
    assert render(odd).size == (160, 128)
    long_error = BASE.replace(settings_error="x" * 400 + " " + "word " * 100)
    assert render(long_error).size == (160, 128)


def test_snapshot_rejects_unknown_mode_and_reason():
    with pytest.raises(ValueError, match="mode"):
        BASE.replace(mode="turbo")
    with pytest.raises(ValueError, match="waiting_for"):
        BASE.replace(waiting_for="godot")
    with pytest.raises(Exception):
        BASE.mode = "pv"  # frozen


def test_no_text_is_smaller_than_10_px(monkeypatch):
    used = set()
    real_font = screens.font

    def recording_font(size, condensed=False):
        used.add((size, condensed))
        return real_font(size, condensed)

    monkeypatch.setattr(screens, "font", recording_font)
    for snapshot in samples().values():
        render(snapshot)
    assert used
    for size, condensed in used:
        left, top, right, bottom = real_font(size, condensed).getbbox("H0")
        assert bottom - top >= 10, f"{size} px text has capitals only {bottom - top} px high"
