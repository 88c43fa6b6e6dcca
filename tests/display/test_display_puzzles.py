"""The screen's former puzzles, each shown gone: units on every figure, advice that fits the link,
problem texts that wrap without cutting a word, no OFF badge while waiting for a schedule window,
the battery badge, the dimming tag, calm countdowns."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from appliance.config import ConfigError, parse_settings
from display.palette import AMBER, GREEN, MARGIN, WIDTH
from display.rows import SUN_ROW_TEXT_LEFT, age_text, sun_row_layout
from display.samples import samples
from display.screens import LINK_ADVICE, problem_detail, problem_text, render
from display.snapshot import Snapshot
from display.text import font, text_width, wrap

BASE = Snapshot(now=datetime(2024, 6, 21, 13, 37), version="0.1.0", car_connected=True, allowance_w=11000.0,
                pv_w=3000.0, pv_age_s=2.0)


@given(pv_w=st.floats(0, 40000), grid_w=st.one_of(st.none(), st.floats(-40000, 40000)))
def test_pv_and_grid_figures_carry_their_unit_and_fit_the_row(pv_w, grid_w):
    layout = sun_row_layout(pv_w, grid_w)
    assert layout.pv_text.endswith(" kW")
    if grid_w is not None:
        assert layout.grid_text.endswith(" kW") and layout.grid_text[0] in "+-"
    assert SUN_ROW_TEXT_LEFT + layout.width() <= WIDTH - MARGIN


def test_the_grid_figure_of_the_former_puzzle_now_says_kw():
    layout = sun_row_layout(3100.0, 10700.0)
    assert layout.grid_text == "+10.7 kW"


def test_wallbox_advice_fits_the_link_in_use():
    offline = BASE.replace(wallbox_offline=True)
    assert "RS-485" in problem_text(offline.replace(link_kind="rtu"))[1]
    assert "RS-485" not in problem_text(offline.replace(link_kind="tcp"))[1]
    assert "network" in problem_text(offline.replace(link_kind="tcp"))[1]
    assert "LOG" in problem_text(offline.replace(link_kind="meter"))[1]
    assert "RS-485" not in problem_text(offline)[1]
    hint = "The wallbox at 192.168.178.30 refuses connections on port 502: switch its Modbus TCP on."
    assert problem_text(offline.replace(link_kind="tcp", wallbox_hint=hint))[1] == hint
    assert render(offline.replace(link_kind="tcp")).tobytes() != render(offline.replace(link_kind="rtu")).tobytes()


def settings_messages() -> list[str]:
    """Every problem the settings check reports for a set of broken files, as the service shows it."""
    broken = [{}, {"fronius": {"ftp_password": "x", "ftp_user": ""}},
              {"grid": {"allowance_w": -5, "phases": 2}, "fronius": {"ftp_password": "x"}},
              {"wallbox": {"transport": "tcp", "parity": "X"}, "fronius": {"ftp_password": "x"}},
              {"control": {"mode": "turbo"}, "fronius": {"ftp_password": "x"}, "display": {"backend": "vga"}}]
    messages = []
    for raw in broken:
        try:
            parse_settings(raw)
        except ConfigError as e:
            messages += [f"wallbox.toml: {p}" for p in e.problems]
    assert len(messages) >= 5
    return messages


def test_every_settings_message_and_advice_is_shown_whole_with_no_word_cut():
    for text in settings_messages() + [a for a in LINK_ADVICE.values()]:
        layout, size, lines = problem_detail(text)
        assert "".join(lines).replace(" ", "") == text.replace(" ", ""), text
        assert all(text_width(line, font(size, condensed=True)) <= WIDTH - 2 * MARGIN for line in lines)
        assert size >= 11


def test_the_longest_sample_is_the_longest_message_and_shows_the_fix():
    longest = max(settings_messages(), key=len)
    sample = samples()["settings_invalid"].settings_error
    assert len(sample) >= len(longest)
    layout, _, lines = problem_detail(sample)
    assert layout == "compact" and lines[-1].endswith("FTP)")


def test_a_text_too_long_for_the_screen_ends_after_a_whole_word():
    words = ("fix the inverter's Push Service settings " * 12).split()
    lines, fitted = wrap(" ".join(words), font(14, condensed=True), WIDTH - 2 * MARGIN, 4)
    assert not fitted and lines[-1].endswith("...")
    shown = " ".join(lines)[:-3].split()
    assert shown == words[:len(shown)]  # every word shown is a whole word of the text


def test_waiting_for_a_schedule_window_shows_no_off_badge():
    waiting = samples()["waiting_schedule"]
    assert waiting.mode == "off"
    picture = render(waiting)
    chip_area = picture.crop((110, 67, 160, 86))
    assert chip_area.getbbox() is None  # all black: no mode badge


def colours_in(picture, box) -> set:
    return {picture.getpixel((x, y)) for x in range(box[0], box[2]) for y in range(box[1], box[3])}


def test_a_battery_badge_shows_charge_and_flow():
    plain = render(BASE.replace(charging=True, car_power_w=4000.0, setpoint_a=6, budget_w=11000.0))
    charging = render(BASE.replace(charging=True, car_power_w=4000.0, setpoint_a=6, budget_w=11000.0,
                                   battery_w=-1500.0, soc_pct=40.0))  # Fronius: - charging
    giving = render(BASE.replace(charging=True, car_power_w=4000.0, setpoint_a=6, budget_w=11000.0,
                                 battery_w=1500.0, soc_pct=40.0))
    badge = (110, 21, 160, 34)
    assert GREEN not in colours_in(plain, badge)
    assert GREEN in colours_in(charging, badge) and AMBER in colours_in(giving, badge)


def test_dimming_shows_an_amber_tag_in_the_header():
    plain = render(BASE.replace(charging=True, car_power_w=4000.0, setpoint_a=6, budget_w=4200.0))
    dimmed = render(BASE.replace(charging=True, car_power_w=4000.0, setpoint_a=6, budget_w=4200.0, dimmed=True))
    header = (60, 0, 112, 19)
    assert AMBER not in colours_in(plain, header) and AMBER in colours_in(dimmed, header)


def test_the_age_of_pv_data_changes_at_most_every_5_seconds():
    assert {age_text(a) for a in (90.1, 91, 93.5, 94.9)} == {"PV data 95 s old"}
    assert age_text(95.1) == "PV data 100 s old"


def test_a_car_still_above_a_lowered_setpoint_is_shown_lowering():
    lowering = samples()["charging_car_lowering"]
    assert lowering.current_a > lowering.setpoint_a
    picture = render(lowering)
    current_row = (60, 62, 156, 80)
    assert AMBER in colours_in(picture, current_row)  # "down to 21 A" in amber, not "of 21 A"
    steady = render(lowering.replace(current_a=20.6))
    assert AMBER not in colours_in(steady, current_row)


def test_an_unwritable_picture_folder_gives_a_message_not_a_traceback(tmp_path, capsys):
    import pytest

    from display.output import OutputError
    from display.recorder import FrameRecorder
    from display.samples import main, render_all

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match="choose a folder you may write to"):
        render_all(blocker / "screens")
    assert main([str(blocker / "screens")]) == 1
    assert "Cannot write the pictures to" in capsys.readouterr().err
    with pytest.raises(OutputError):
        FrameRecorder(blocker / "frames")
    recorder = FrameRecorder(tmp_path / "frames")
    recorder.add(render(BASE), 0.0)
    with pytest.raises(OutputError, match="a-file"):
        recorder.write_gif(blocker / "run.gif")
