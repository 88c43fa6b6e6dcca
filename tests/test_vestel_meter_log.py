"""The CN28 LOG parser and line assembler: known lines, fragments, garbage, random read splits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.chargers.vestel_meter.log_parser import (
    BoxLog, ControlLine, LineAssembler, PhaseLine, ValueLine, fold, parse_line,
)

KNOWN = [
    ("P1:\tV: 234102\tA: 36\tW: 1\tWh: 0", PhaseLine(1, 234102, 36, 1, 0)),
    ("P3:\tV: 232727\tA: 15252\tW: 3506\tWh: 1234", PhaseLine(3, 232727, 15252, 3506, 1234)),
    ("ev current: 16", ValueLine("ev_current_a", 16)),
    ("max_offered_current: 16", ValueLine("max_offered_a", 16)),
    ("lb current:16", ValueLine("grant_a", 16)),
    ("S:C2 Auth:1 D:281 Cmax:16 Ph:3 Relay:7", ControlLine("C2", True, 281, 16, 3, 7)),
    ("ERROR: 22", ValueLine("error", 22)),
    ("CLEAR: 22", ValueLine("clear", 22)),
    ("Temp: 32 C ", ValueLine("temperature_c", 32)),
    ("lb current:12\r", ValueLine("grant_a", 12)),
]
UNKNOWN = ["wc", "lb active", "lb wait for time", "TEMP lb current: 10", "KLEFR DETECTED",
           "Any metering device NOT detected!", "Stop Pwm1", "rent:16", "h: 0", "e", "", "lb current:",
           "P1:\tV: 234102\tA: 36", "S:C2 Auth:1 D:281", "current_without_dlm_without_unplugged16"]


def test_known_lines_parse_to_their_records():
    for line, record in KNOWN:
        assert parse_line(line) == record, line


def test_unknown_lines_and_fragments_are_ignored():
    for line in UNKNOWN:
        assert parse_line(line) is None, line


def test_the_grant_is_not_taken_from_the_thermal_line():
    log = fold(BoxLog(), parse_line("lb current:16"))
    assert parse_line("TEMP lb current: 10") is None
    assert log.grant_a == 16


def test_fold_tracks_phases_errors_and_the_end_of_a_session():
    log = BoxLog()
    for line in ["P1:\tV: 230000\tA: 7000\tW: 1610\tWh: 5", "P2:\tV: 230000\tA: 6500\tW: 1500\tWh: 5",
                 "lb current:8", "ERROR: 22", "ERROR: 2", "CLEAR: 22"]:
        log = fold(log, parse_line(line))
    assert log.car_draw_a == 7.0 and log.grant_a == 8 and log.errors == {2}
    log = fold(log, parse_line("S:B1 Auth:1 D:0 Cmax:0 Ph:3 Relay:7"))
    assert log.grant_a == 0 and log.control.cp_state == "B1"


def test_the_first_line_of_a_burst_is_dropped_because_it_may_be_a_tail():
    a = LineAssembler()
    a.start_burst()
    # "TEMP lb current: 10" cut after "TEMP " would read as a grant of 10 if it counted
    assert a.feed(b"lb current: 10\r\nlb current:16\r\nev cur") == ["lb current:16\r"]
    assert a.feed(b"rent: 9\n") == ["ev current: 9"]
    a.start_burst()   # a new burst drops the unfinished rest of the old one
    assert a.feed(b"\r\nP2") == []
    assert a.feed(b"\n") == ["P2"]


BURST = [line for line, _ in KNOWN[:9]]


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
       garbage=st.lists(st.sampled_from(UNKNOWN + ["\x00\xff\x13", "A: 99999999999999", "lb current:1x"]), max_size=6),
       lead=st.text(alphabet="abc: \t0123456789", max_size=10))
def test_any_split_of_a_burst_gives_the_same_snapshot(cuts, garbage, lead):
    lines = BURST[:5] + garbage + BURST[5:]
    data = (lead + "\n" + "\r\n".join(lines) + "\r\n").encode("latin-1")
    whole = LineAssembler()
    whole.start_burst()
    expected = whole.feed(data)
    pieces = LineAssembler()
    pieces.start_burst()
    got: list[str] = []
    points = sorted({c % (len(data) + 1) for c in cuts})
    for a, b in zip([0] + points, points + [len(data)]):
        got += pieces.feed(data[a:b])
    assert got == expected
    snapshot = BoxLog()
    for line in got:
        record = parse_line(line)
        if record is not None:
            snapshot = fold(snapshot, record)
    assert snapshot.grant_a == 16 and snapshot.control.cp_state == "C2" and snapshot.phases[0].voltage_mv == 234102


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_never_raises(data):
    a = LineAssembler()
    a.start_burst()
    for line in a.feed(data) + a.feed(b"\n"):
        record = parse_line(line)
        if record is not None:
            fold(BoxLog(), record)
