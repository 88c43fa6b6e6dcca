"""ReadingFreshness: inverter stamps order readings and check clocks; arrival time counts."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.sources.fronius import parse_document
from appliance.sources.freshness import ReadingFreshness, Verdict

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=timezone.utc)


def push(stamp: str | None, received_at: float, pv_w: float = 1000.0):
    head = {"Status": {"Code": 0}}
    if stamp is not None:
        head["Timestamp"] = stamp
    return parse_document({"Head": head, "Body": {"Site": {"P_PV": pv_w}}},
                          source=f"push@{received_at}", received_at=received_at)


def freshness(now=NOW):
    return ReadingFreshness(wall_clock=lambda: now)


def test_in_order_pushes_replace_each_other():
    f = freshness()
    assert f.offer(push("2026-06-01T13:59:00+02:00", 10.0)).taken
    later = push("2026-06-01T14:00:00+02:00", 70.0)
    assert f.offer(later).taken and f.held is later


def test_an_older_push_does_not_replace_the_held_one(caplog):
    f = freshness()
    held = push("2026-06-01T12:00:00+00:00", 10.0, pv_w=5000.0)
    f.offer(held)
    with caplog.at_level(logging.INFO, logger="appliance.freshness"):
        offer = f.offer(push("2026-06-01T11:59:00+00:00", 12.0, pv_w=200.0))
    assert offer.verdict is Verdict.OLDER_THAN_HELD
    assert f.held is held and f.ignored_older == 1
    assert "earlier than the data already held" in caplog.text


def test_a_clock_set_back_costs_at_most_stale_after_s():
    f = freshness()
    f.offer(push("2026-06-01T12:30:00+00:00", 0.0))
    corrected = push("2026-06-01T12:00:10+00:00", 30.0)
    assert not f.offer(corrected).taken
    assert f.offer(push("2026-06-01T12:00:20+00:00", 60.0)).taken


def test_stamp_2099_is_taken_on_arrival_and_logged_once_with_both_times(caplog):
    f = freshness()
    with caplog.at_level(logging.WARNING, logger="appliance.freshness"):
        for i in range(3):
            offer = f.offer(push(f"2099-01-01T00:0{i}:00+00:00", 10.0 * i))
            assert offer.taken and offer.clock_skew_s > 300
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert "2099-01-01T00:00:00+00:00" in text and "2026-06-01T12:00:00+00:00" in text
    assert "the inverter's clock or the appliance's is wrong" in text


def test_stamp_1970_is_logged_again_after_the_clocks_agreed(caplog):
    f = freshness()
    with caplog.at_level(logging.INFO, logger="appliance.freshness"):
        f.offer(push("1970-01-01T00:00:00+00:00", 0.0))
        f.offer(push("2026-06-01T12:00:30+00:00", 10.0))
        f.offer(push("1970-01-01T00:01:00+00:00", 100.0))
    assert sum("is wrong" in r.getMessage() for r in caplog.records) == 2
    assert any("agree again" in r.getMessage() for r in caplog.records)


def test_four_minutes_apart_is_not_a_clock_problem(caplog):
    f = freshness()
    with caplog.at_level(logging.WARNING, logger="appliance.freshness"):
        offer = f.offer(push("2026-06-01T12:04:00+00:00", 0.0))
    assert offer.clock_skew_s == 240.0 and not caplog.records


def test_readings_without_a_stamp_are_ordered_by_arrival():
    f = freshness()
    f.offer(push("2026-06-01T12:00:00+00:00", 0.0))
    unstamped = push(None, 1.0)
    assert f.offer(unstamped).taken and f.held is unstamped


@settings(max_examples=60)
@given(st.lists(st.tuples(st.integers(-10**6, 10**6), st.floats(0, 30)), min_size=1, max_size=20))
def test_the_held_reading_never_goes_back_in_stamp_within_stale_after_s(steps):
    f = freshness()
    arrival = 0.0
    for offset_s, gap_s in steps:
        arrival += gap_s
        before = f.held
        stamp = (NOW + timedelta(seconds=offset_s)).isoformat()
        f.offer(push(stamp, arrival))
        if before is not None and arrival - before.received_at < 60.0:
            assert f.held.inverter_time >= before.inverter_time
        assert f.held.received_at <= arrival


REPLAY = (__import__("pathlib").Path(__file__).resolve().parent / "samples" / "fronius"
          / "replay-2023-03-02-powerflow.jsonl")


def test_a_real_day_of_pushes_is_taken_without_clock_warnings(caplog):
    import json

    docs = [json.loads(line)["doc"] for line in REPLAY.read_text().splitlines()]
    stamps = [datetime.fromisoformat(d["Head"]["Timestamp"]) for d in docs]
    arrival = {"wall": stamps[0]}
    f = ReadingFreshness(wall_clock=lambda: arrival["wall"] + timedelta(seconds=2))
    taken = 0
    with caplog.at_level(logging.INFO, logger="appliance.freshness"):
        for i, doc in enumerate(docs):
            arrival["wall"] = stamps[i]
            m = parse_document(doc, source=str(i), received_at=60.0 * i)
            taken += f.offer(m).taken
        # The same day again with each pair of neighbours swapped in transit (arriving 1 s apart).
        f = ReadingFreshness(wall_clock=lambda: arrival["wall"])
        ignored = 0
        for i in range(0, len(docs) - 1, 2):
            for j in (i + 1, i):
                arrival["wall"] = stamps[i + 1]
                m = parse_document(docs[j], source=str(j), received_at=60.0 * i + (j == i))
                ignored += not f.offer(m).taken
    assert taken == len(docs) == 759
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert ignored == len(docs) // 2
