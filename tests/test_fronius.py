"""parse_document against real Fronius samples, hand-made bad documents and random garbage."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.sources.fronius import FroniusDataError, Measurement, parse_document
from fronius_outcome import check_outcome

SAMPLES = Path(__file__).resolve().parent / "samples" / "fronius"
needs_samples = pytest.mark.skipif(
    not SAMPLES.is_dir(),
    reason=f"the real Fronius samples are not at {SAMPLES} (they live beside the repository)",
)


def tz(hours: int) -> timezone:
    return timezone(timedelta(hours=hours))


# Expected values read by hand from each file:
# (pv_w, grid_w, load_w, battery_w, kind, Head.Timestamp)
EXPECTED = {
    "01_powerflow_night_vague_meter_symo_pyfronius.json": (
        0.0, 367.722145, -367.722145, None, "powerflow",
        datetime(2019, 1, 10, 23, 33, 12, tzinfo=tz(1))),
    "02_powerflow_day_symo_meter_grid_ha.json": (
        1111.0, 1703.74, -2814.7399999999998, None, "powerflow",
        datetime(2021, 10, 7, 10, 0, 43, tzinfo=tz(2))),
    "03_powerflow_night_symo_ha.json": (
        0.0, 975.30999999999995, -975.30999999999995, None, "powerflow",
        datetime(2021, 10, 6, 23, 49, 54, tzinfo=tz(2))),
    "04_powerflow_gen24_storage_ohmpilot_ha.json": (
        216.43276786804199, 2274.9000000000001, -2459.3092254638673, 0.15907810628414154,
        "powerflow", datetime(2021, 11, 28, 13, 12, 20, tzinfo=timezone.utc)),
    "05_powerflow_two_inverters_primo_s0_ha.json": (
        1834.0, 384.93491437299008, -2218.9349143729901, None, "powerflow",
        datetime(2021, 12, 9, 15, 34, 6, tzinfo=tz(-3))),
    "06_powerflow_night_produce_only_igplus_all_null_ha.json": (
        0.0, None, None, None, "powerflow", datetime(2023, 7, 13, 22, 4, 44, tzinfo=tz(2))),
    "08_powerflow_gen24_no_battery_ha.json": (
        62.948148727416992, 658.39999999999998, -695.68274917602537, None, "powerflow",
        datetime(2021, 11, 26, 11, 7, 53, tzinfo=timezone.utc)),
    "09_push_ftp_powerflow_day_produce_only_f2i.json": (
        832.0, None, None, None, "powerflow", datetime(2023, 3, 2, 12, 1, 3, tzinfo=tz(-8))),
    "10_push_ftp_powerflow_dusk_pv_null_f2i.json": (
        0.0, None, None, None, "powerflow", datetime(2023, 3, 2, 17, 28, 3, tzinfo=tz(-8))),
    "11_push_ftp_powerflow_night_all_null_f2i.json": (
        0.0, None, None, None, "powerflow", datetime(2023, 3, 2, 23, 14, 3, tzinfo=tz(-8))),
    "12_push_ftp_inverter_day_f2i.json": (
        832.0, None, None, None, "inverter", datetime(2023, 3, 2, 12, 1, 4, tzinfo=tz(-8))),
    "13_push_ftp_inverter_night_empty_pac_f2i.json": (
        0.0, None, None, None, "inverter", datetime(2023, 3, 2, 23, 11, 3, tzinfo=tz(-8))),
    "14_push_powerflow_symo_grid_meter_export_zeitinfarkt.json": (
        886.0, -308.54000000000002, -577.46000000000004, None, "powerflow",
        datetime(2022, 8, 20, 17, 22, 22, tzinfo=tz(2))),
}

# Files that must be refused, with words the reason must contain.
REFUSED = {
    "07_error_code255_storage_not_supported_primo_ha.json": [
        "255", "GetStorageRealtimeData request is not supported by this device."],
    "16_meter_realtime_device0_symo_smartmeter63A_ha.json": ["meter", "Powerflow"],
}


@needs_samples
def test_every_sample_file_is_covered():
    on_disk = {p.name for p in SAMPLES.glob("*.json")}
    assert on_disk == set(EXPECTED) | set(REFUSED)


@needs_samples
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_gives_expected_values(name):
    pv_w, grid_w, load_w, battery_w, kind, when = EXPECTED[name]
    data = (SAMPLES / name).read_bytes()
    m = parse_document(data, source=name, received_at=12.5)
    assert isinstance(m, Measurement)
    assert (m.pv_w, m.grid_w, m.load_w, m.battery_w, m.kind) == (
        pv_w, grid_w, load_w, battery_w, kind)
    assert isinstance(m.pv_w, float)
    assert m.inverter_time == when
    assert m.inverter_time.utcoffset() == when.utcoffset()
    assert m.source == name and m.received_at == 12.5
    # The same document as text and as an already decoded object gives the same answer.
    assert parse_document(data.decode(), source=name, received_at=12.5) == m
    assert parse_document(json.loads(data), source=name, received_at=12.5) == m


@needs_samples
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_sample_is_refused_with_reason(name):
    with pytest.raises(FroniusDataError) as info:
        parse_document((SAMPLES / name).read_bytes(), source=name, received_at=0.0)
    for words in REFUSED[name]:
        assert words in str(info.value)


@needs_samples
def test_whole_day_replay_parses():
    lines = (SAMPLES / "replay-2023-03-02-powerflow.jsonl").read_text().splitlines()
    measurements = []
    for number, line in enumerate(lines):
        entry = json.loads(line)
        m = parse_document(entry["doc"], source=entry["file"], received_at=float(number))
        assert m.pv_w >= 0 and math.isfinite(m.pv_w)
        assert m.kind == "powerflow"
        assert m.inverter_time is not None and m.inverter_time.utcoffset() == timedelta(hours=-8)
        measurements.append(m)
    assert len(measurements) == 759
    by_file = {m.source: m for m in measurements}
    # Spot checks, values read from the file.
    first = by_file["111800.solarapi.v1.powerflow"]
    assert first.pv_w == 1083.0
    assert first.inverter_time == datetime(2023, 3, 2, 11, 18, 7, tzinfo=tz(-8))
    assert by_file["111900.solarapi.v1.powerflow"].pv_w == 1088.0
    assert by_file["112000.solarapi.v1.powerflow"].pv_w == 1075.0
    # Dusk: P_PV null while Inverters.1.P is 0 -> 0 W (sample 10 is this very push).
    assert by_file["172800.solarapi.v1.powerflow"].pv_w == 0.0
    assert by_file["231400.solarapi.v1.powerflow"].pv_w == 0.0
    # Produce-only system: no meter, so grid/load stay unknown all day.
    assert all(m.grid_w is None and m.load_w is None for m in measurements)
    assert max(m.pv_w for m in measurements) > 1000


def doc(site: dict | None = None, *, code=0, reason="", data_wrapper=False, **extra) -> dict:
    body = {"Site": site if site is not None else {"P_PV": 100.0}, **extra}
    if data_wrapper:
        body = {"Data": body}
    return {
        "Head": {"Status": {"Code": code, "Reason": reason, "UserMessage": ""},
                 "Timestamp": "2024-05-01T12:00:00+02:00"},
        "Body": body,
    }


def refuse(data) -> str:
    with pytest.raises(FroniusDataError) as info:
        parse_document(data, source="test", received_at=0.0)
    return str(info.value)


def test_push_and_poll_layout_read_the_same():
    site = {"P_PV": 5600, "P_Grid": -1200.5, "P_Load": -4399.5, "P_Akku": None}
    push = parse_document(doc(site), source="a", received_at=1.0)
    poll = parse_document(doc(site, data_wrapper=True), source="a", received_at=1.0)
    assert push == poll
    assert (push.pv_w, push.grid_w, push.load_w, push.battery_w) == (5600.0, -1200.5, -4399.5, None)


def test_pv_null_counts_as_zero_even_with_inverter_power():
    m = parse_document(doc({"P_PV": None, "P_Grid": 300}, Inverters={"1": {"P": 750}}),
                       source="a", received_at=0.0)
    assert m.pv_w == 0.0 and m.grid_w == 300.0


def test_missing_pv_key_counts_as_zero():
    assert parse_document(doc({"P_Grid": 10}), source="a", received_at=0.0).pv_w == 0.0


def test_error_answer_names_code_and_reason():
    reason = refuse(doc(code=255, reason="Device not available"))
    assert "255" in reason and "Device not available" in reason


@pytest.mark.parametrize(
    "text, words",
    [
        (b"", ["empty"]),
        (b"   \n", ["empty"]),
        (b"\xff\xfe{", ["UTF-8"]),
        (b"<html>502 Bad Gateway</html>", ["not valid JSON"]),
        (b'{"Head": {}, "Body": {"Site": {"P_PV": 12', ["cut off"]),
        (b"[1, 2]", ["list", "not an object"]),
        (b'"Body"', ["str", "not an object"]),
        (b"{}", ["no Body"]),
        (b'{"Head": {}}', ["no Body"]),
        (b'{"Body": []}', ["Body", "not a JSON object"]),
        (b'{"Body": {"Data": 7}}', ["Body.Data", "not a JSON object"]),
        (b'{"Body": {"Site": "x"}}', ["Body.Site", "not a JSON object"]),
        (b'{"Body": {"Site": {"P_PV": NaN}}}', ["Body.Site.P_PV", "nan"]),
        (b'{"Body": {"Site": {"P_PV": 5, "P_Grid": Infinity}}}', ["Body.Site.P_Grid", "inf"]),
        (b'{"Body": {"Site": {"P_PV": 5, "P_Load": 1e400}}}', ["Body.Site.P_Load", "inf"]),
        (b'{"Body": {"Site": {"P_PV": -0.5}}}', ["Body.Site.P_PV", "-0.5", "negative"]),
        (b'{"Body": {"Site": {"P_PV": 1000001}}}', ["Body.Site.P_PV", "1000001", "1 MW"]),
        (b'{"Body": {"Site": {"P_PV": 10, "P_Grid": -2e6}}}', ["Body.Site.P_Grid", "1 MW"]),
        (b'{"Body": {"Site": {"P_PV": 10, "P_Akku": 3e6}}}', ["Body.Site.P_Akku", "1 MW"]),
        (b'{"Body": {"Site": {"P_PV": "850"}}}', ["Body.Site.P_PV", "'850'", "str"]),
        (b'{"Body": {"Site": {"P_PV": true}}}', ["Body.Site.P_PV", "True", "bool"]),
        (b'{"Body": {"Data": {"Site": {"P_PV": 1, "P_Grid": [1]}}}}', ["Body.Data.Site.P_Grid"]),
        (b'{"Body": {"PAC": {"Unit": "W", "Values": {"1": -5}}}}', ["Body.PAC.Values.1"]),
        (b'{"Body": {"PAC": {"Unit": "kW", "Values": {"1": 5}}}}', ["Body.PAC.Unit", "kW"]),
        (b'{"Body": {"PAC": {"Unit": "W", "Values": {"1": 6e5, "2": 6e5}}}}', ["1 MW"]),
        (b'{"Body": {"Inverters": {}}}', ["neither Site", "Powerflow"]),
        (b'{"Head": {"Status": {"Code": true}}, "Body": {"Site": {}}}', ["error code True"]),
        (b"[" * 100_000, ["nested too deeply"]),
    ],
)
def test_bad_documents_are_refused_with_reason(text, words):
    reason = refuse(text)
    for word in words:
        assert word in reason, reason


def test_limits_are_inclusive():
    m = parse_document(doc({"P_PV": 1_000_000, "P_Grid": -1_000_000}), source="a", received_at=0)
    assert (m.pv_w, m.grid_w) == (1_000_000.0, -1_000_000.0)


def test_inverter_push_sums_inverters():
    d = {"Head": {"Timestamp": "2023-03-02T12:01:04-08:00"},
         "Body": {"PAC": {"Unit": "W", "Values": {"1": 832, "2": 1200.5, "3": None}}}}
    m = parse_document(d, source="x.inverter", received_at=3.0)
    assert (m.pv_w, m.kind, m.grid_w, m.load_w, m.battery_w) == (2032.5, "inverter", None, None, None)


@pytest.mark.parametrize("stamp", [None, 17, "yesterday", "2024-05-01T12:00:00", ""])
def test_bad_or_naive_timestamp_is_none(stamp):
    d = doc({"P_PV": 1})
    d["Head"]["Timestamp"] = stamp
    assert parse_document(d, source="x", received_at=0).inverter_time is None


def test_document_without_head_is_read():
    m = parse_document({"Body": {"Site": {"P_PV": 42}}}, source="x", received_at=0)
    assert m.pv_w == 42.0 and m.inverter_time is None


def test_utf8_bom_is_accepted():
    raw = b"\xef\xbb\xbf" + json.dumps(doc({"P_PV": 7})).encode()
    assert parse_document(raw, source="x", received_at=0).pv_w == 7.0


# --- random garbage never raises anything but FroniusDataError

json_scalars = (
    st.none() | st.booleans() | st.integers(min_value=-10**30, max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)
field_names = st.sampled_from(
    ["Head", "Body", "Data", "Site", "P_PV", "P_Grid", "P_Load", "P_Akku", "PAC", "Values",
     "Unit", "Status", "Code", "Reason", "Timestamp", "Inverters", "1"])
# Documents shaped almost like the real thing, so the parser's deeper branches are reached.
near_docs = st.recursive(
    json_scalars,
    lambda inner: st.dictionaries(field_names, inner, max_size=5) | st.lists(inner, max_size=3),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(json_values | near_docs)
def test_random_objects_only_raise_fronius_data_error(value):
    check_outcome(value)


@settings(max_examples=300, deadline=None)
@given(json_values | near_docs)
def test_random_json_text_only_raises_fronius_data_error(value):
    text = json.dumps(value, allow_nan=True)
    check_outcome(text)
    check_outcome(text.encode())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_fronius_data_error(raw):
    check_outcome(raw)


@needs_samples
@settings(max_examples=200, deadline=None)
@given(st.data())
def test_cut_off_real_uploads_are_refused(data):
    raw = (SAMPLES / "14_push_powerflow_symo_grid_meter_export_zeitinfarkt.json").read_bytes()
    cut = data.draw(st.integers(min_value=0, max_value=len(raw.rstrip()) - 1))
    with pytest.raises(FroniusDataError):
        parse_document(raw[:cut], source="cut", received_at=0.0)
