"""The screen is drawn only when something visible changed, and its countdowns step by 5 s."""

from __future__ import annotations

from datetime import timedelta

from display.samples import samples
from display.screens import draw, render


def test_same_visible_state_returns_the_same_picture_without_drawing_again():
    paused = samples()["paused"]
    first = render(paused)
    later = paused.replace(now=paused.now.replace(second=0) + timedelta(seconds=30),
                           pause_remaining_s=paused.pause_remaining_s - 0.7)
    assert later.now.minute == paused.now.replace(second=0).minute
    assert render(later) is first
    assert render(later.replace(pv_age_s=(paused.pv_age_s or 0) + 0.5)) is first
    # A visible change (the power) is drawn, and the picture is what draw() makes.
    changed = later.replace(pv_w=(paused.pv_w or 0) + 1000)
    assert render(changed) is not first
    assert render(changed).tobytes() == draw(changed).tobytes()


def test_a_new_minute_is_a_new_picture():
    base = samples()["charging_pv"]
    start = base.now.replace(second=59)
    assert render(base.replace(now=start)) is not render(base.replace(now=start + timedelta(seconds=1)))


def test_countdown_and_data_age_change_at_most_every_5_s():
    for name, field in (("paused", "pause_remaining_s"), ("charging_inverter_stale", "pv_age_s")):
        base = samples()[name]
        start = base.now.replace(second=0)
        pictures = []
        for tenth in range(0, 600, 5):  # one minute in 0.5 s steps, the clock within one minute
            s = base.replace(now=start + timedelta(seconds=tenth / 20), **{field: 100.0 - tenth / 10})
            image = render(s)
            if not pictures or image is not pictures[-1]:
                pictures.append(image)
        assert 2 <= len(pictures) <= 60 / 5 + 1, (name, len(pictures))
